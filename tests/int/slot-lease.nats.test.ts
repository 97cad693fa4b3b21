/** Slot leases on a real nats-server, as a service's own user (the cases: tests/support/slot-lease-cases.ts). */
import { afterAll, beforeAll } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { slotLeaseCases } from '../support/slot-lease-cases.ts';
import { natsWorlds } from '../support/transport-worlds.ts';

let server: NatsServerHandle | undefined;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

slotLeaseCases(natsWorlds(() => server!));
