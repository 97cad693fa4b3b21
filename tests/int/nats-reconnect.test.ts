/**
 * A connection cut off from NATS for longer than nats.js's default reconnect budget (10 attempts,
 * 2 s apart) comes back once the network does: the process must not be left with a closed
 * connection for good (connectNats: maxReconnectAttempts -1). The attempts here are 250 ms apart
 * instead of 2 s, so that twelve of them take about 3 s instead of 24: the budget is a count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

describe('a connection reset and refused for more reconnect attempts than nats.js allows by default', () => {
  let server: NatsServerHandle;
  let proxy: TcpProxy;
  let t: NatsTransport;
  beforeAll(async () => {
    server = await startNatsServer();
    proxy = await startTcpProxy({ port: server.port });
    t = await connectNats({ servers: `nats://127.0.0.1:${proxy.port}`, user: 'admin', pass: 'admin-dev-secret', name: 'reconnect-test', onError: () => undefined, reconnectTimeWaitMs: 250 });
  });
  afterAll(async () => {
    await t?.drain().catch(() => undefined);
    await proxy?.close();
    await server?.stop();
  });

  it('reconnects once the network is back', async () => {
    proxy.cut('reset');
    // The cut resets the connection's two sockets; each refused attempt after it counts one more.
    const cutResets = proxy.stats.resets;
    const end0 = Date.now() + 30_000;
    while (proxy.stats.resets - cutResets < 12) {
      if (t.nc.isClosed()) throw new Error(`the connection gave up after ${proxy.stats.resets - cutResets} reconnect attempts`);
      if (Date.now() > end0) throw new Error(`${proxy.stats.resets - cutResets} reconnect attempts in 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(t.nc.isClosed()).toBe(false);
    proxy.heal();
    // The next reconnect attempt gets through; the connection was never given up.
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
