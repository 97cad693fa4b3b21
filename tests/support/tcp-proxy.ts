/**
 * A loopback TCP proxy that a test can cut, to make a network partition between real components
 * (a service and its nats-server, or two nats-server nodes on their route) without touching either.
 *
 *   open     bytes are forwarded both ways as they come.
 *   silent   nothing crosses, in either direction, and no connection is closed: each side sees
 *            silence, as behind a switch that drops every packet. What each side sends meanwhile is
 *            held (as the kernels' send buffers and retransmissions would hold it) and delivered
 *            at heal, late; a side that closes meanwhile is closed on the other side at heal. A new
 *            connection made during the cut gets nothing and is dropped at heal (its SYN, lost).
 *   reset    every connection is reset (RST) at the cut, and new ones are reset at once until heal,
 *            as when a firewall rejects, or a peer's host rebooted.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type CutMode = 'silent' | 'reset';

export interface TcpProxy {
  /** The loopback port to connect to instead of the target's. */
  port: number;
  cut(mode: CutMode): void;
  /** Forwards again; what a silent cut held is delivered now. */
  heal(): void;
  /**
   * Bytes held by silent cuts so far (both directions), connections reset, and the subjects of the
   * NATS publishes (PUB, HPUB) the client side sent during a silent cut, delivered late at heal.
   */
  readonly stats: { heldBytes: number; resets: number; heldPublishes: string[] };
  close(): Promise<void>;
}

interface Side {
  socket: Socket;
  /** Held while silent: data to write to this side, and whether it was ended or closed by its peer. */
  pending: Buffer[];
  ended: boolean;
  destroyed: boolean;
}

interface Pair {
  a: Side;
  b: Side;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  let state: 'open' | CutMode = 'open';
  const pairs = new Set<Pair>();
  const silentlyAccepted = new Set<Socket>();
  const stats = { heldBytes: 0, resets: 0, heldPublishes: [] as string[] };

  const deliver = (to: Side, chunk: Buffer): void => {
    if (state === 'silent') {
      to.pending.push(chunk);
      stats.heldBytes += chunk.length;
    } else if (state === 'open' && !to.socket.destroyed) to.socket.write(chunk);
  };
  const endOther = (to: Side): void => {
    if (state === 'silent') to.ended = true;
    else if (state === 'open') to.socket.end();
  };
  const closeOther = (to: Side): void => {
    if (state === 'silent') to.destroyed = true;
    else to.socket.destroy();
  };
  const wire = (from: Side, to: Side, pair: Pair): void => {
    from.socket.on('data', (chunk: Buffer) => deliver(to, chunk));
    from.socket.on('end', () => endOther(to));
    from.socket.on('error', () => undefined);
    from.socket.on('close', () => {
      closeOther(to);
      if (to.socket.destroyed) pairs.delete(pair);
    });
  };
  /** The subjects of the publishes in what a silent cut held for the server (NATS's text protocol). */
  const publishesIn = (chunks: Buffer[]): string[] =>
    [...Buffer.concat(chunks).toString('latin1').matchAll(/(?:^|\r\n)H?PUB (\S+) /g)].map((m) => m[1]!);
  const flush = (side: Side): void => {
    for (const chunk of side.pending.splice(0)) if (!side.socket.destroyed) side.socket.write(chunk);
    if (side.destroyed) side.socket.destroy();
    else if (side.ended) side.socket.end();
  };

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    client.on('error', () => undefined);
    if (state === 'reset') {
      stats.resets++;
      client.resetAndDestroy();
      return;
    }
    if (state === 'silent') {
      silentlyAccepted.add(client);
      return;
    }
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port, allowHalfOpen: true });
    const pair: Pair = {
      a: { socket: client, pending: [], ended: false, destroyed: false },
      b: { socket: upstream, pending: [], ended: false, destroyed: false },
    };
    pairs.add(pair);
    wire(pair.a, pair.b, pair);
    wire(pair.b, pair.a, pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    stats,
    cut(mode) {
      state = mode;
      if (mode !== 'reset') return;
      for (const p of pairs) {
        for (const s of [p.a.socket, p.b.socket]) {
          if (!s.destroyed) {
            stats.resets++;
            s.resetAndDestroy();
          }
        }
      }
      pairs.clear();
    },
    heal() {
      state = 'open';
      for (const p of [...pairs]) {
        stats.heldPublishes.push(...publishesIn(p.b.pending));
        flush(p.a);
        flush(p.b);
      }
      for (const s of silentlyAccepted) s.destroy();
      silentlyAccepted.clear();
    },
    async close() {
      for (const p of pairs) {
        p.a.socket.destroy();
        p.b.socket.destroy();
      }
      for (const s of silentlyAccepted) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
