/** Slot leases on the in-process bus over MessagePorts, as worker threads reach it (the cases: tests/support/slot-lease-cases.ts). */
import { slotLeaseCases } from '../support/slot-lease-cases.ts';
import { portWorlds } from '../support/transport-worlds.ts';

slotLeaseCases(portWorlds());
