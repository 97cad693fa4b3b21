/** Slot leases on the in-process bus (the cases: tests/support/slot-lease-cases.ts). */
import { slotLeaseCases } from '../support/slot-lease-cases.ts';
import { inProcessWorlds } from '../support/transport-worlds.ts';

slotLeaseCases(inProcessWorlds());
