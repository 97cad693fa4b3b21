/**
 * A connection cut off from NATS for longer than nats.js's default reconnect budget (10 attempts,
 * 2 s apart) comes back once the network does: the process must not be left with a closed
 * connection for good (connectNats: maxReconnectAttempts -1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

describe('a connection reset and refused for longer than 20 s', () => {
  let server: NatsServerHandle;
  let proxy: TcpProxy;
  let t: NatsTransport;
  beforeAll(async () => {
    server = await startNatsServer();
    proxy = await startTcpProxy({ port: server.port });
    t = await connectNats({ servers: `nats://127.0.0.1:${proxy.port}`, user: 'admin', pass: 'admin-dev-secret', name: 'reconnect-test', onError: () => undefined });
  });
  afterAll(async () => {
    await t?.drain().catch(() => undefined);
    await proxy?.close();
    await server?.stop();
  });

  it('reconnects once the network is back', async () => {
    proxy.cut('reset');
    await new Promise((r) => setTimeout(r, 24_000));
    expect(proxy.stats.resets).toBeGreaterThan(10);
    proxy.heal();
    // The next reconnect attempt (2 s apart) gets through; the connection was never given up.
    const end = Date.now() + 15_000;
    for (;;) {
      try {
        await t.nc.flush();
        break;
      } catch (err) {
        if (t.nc.isClosed() || Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(t.nc.isClosed()).toBe(false);
  }, 60_000);
});
