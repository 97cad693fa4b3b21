/**
 * `npm run bench -- --failover R [--cluster]`: how long work held by a killed instance takes to
 * resume elsewhere. Each of R rounds: two members of one durable consumer (the orchestrator's), 40
 * events; one member takes some and never finishes them (an instance mid-work), then its connection
 * is cut without an ack (SIGKILL as the server sees it). Measured per held event: from the cut to
 * the other member handling it. On a single nats-server, or on a 3-node cluster with R3 streams.
 */
import { Durable, Event, Stream } from '../src/contracts/subjects.ts';
import { DEFAULT_ACK_WAIT_MS } from '../src/runtime/transport/consumer-policy.ts';
import { connectNats, type NatsTransport } from '../src/runtime/transport/nats.ts';
import { startNatsCluster } from '../tests/support/nats-cluster.ts';
import { credentialsFor, startNatsServer } from '../tests/support/nats-server.ts';
import { summarize, type LatencySummary } from './stats.ts';

export interface FailoverResult {
  kind: 'failover';
  topology: 'single' | 'cluster-r3';
  ackWaitMs: number;
  rounds: number;
  held: number;
  resumeMs: LatencySummary;
}

const EVENTS = 40;

export async function measureFailover(rounds: number, cluster: boolean, say: (s: string) => void): Promise<FailoverResult> {
  const samples: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const server = cluster ? await startNatsCluster() : await startNatsServer();
    const servers = 'servers' in server ? server.servers : [server.url];
    const as = (user: 'cart' | 'checkout', name: string): Promise<NatsTransport> =>
      connectNats({ servers, ...credentialsFor(user), name, inboxPrefix: `_INBOX.${user}`, replicas: cluster ? 3 : 1, onError: () => undefined });
    try {
      const cart = await as('cart', 'cart');
      await cart.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
      const opts = { stream: Stream.shopping.name, durable: Durable.checkoutStartsSagas, filterSubjects: [Event.cartCheckedOut], ackWaitMs: DEFAULT_ACK_WAIT_MS };
      const dying = await as('checkout', 'dying');
      const living = await as('checkout', 'living');
      const held = new Set<number>();
      const done = new Map<number, number>();
      await dying.consume(opts, async (d) => {
        held.add(d.seq);
        await new Promise(() => undefined);
      });
      for (let i = 1; i <= EVENTS; i++) await cart.publish(Event.cartCheckedOut, `{"n":${i}}`, { 'ce-id': `e${i}` }, `e${r}-${i}`);
      await waitFor(() => held.size > 0, 10_000);
      await living.consume(opts, async (d) => void done.set(d.seq, performance.now()));
      await waitFor(() => held.size + done.size >= EVENTS, 10_000);
      await new Promise((res) => setTimeout(res, 500 + Math.random() * DEFAULT_ACK_WAIT_MS)); // cut at any point of the ack wait
      const cutAt = performance.now();
      await dying.nc.close();
      await waitFor(() => [...held].every((s) => done.has(s)), 60_000);
      for (const s of held) samples.push(done.get(s)! - cutAt);
      say(`round ${r}: ${held.size} held, resumed after ${Math.round(Math.max(...[...held].map((s) => done.get(s)! - cutAt)))} ms at most`);
      await living.drain();
      await cart.drain();
    } finally {
      await server.stop();
    }
  }
  return { kind: 'failover', topology: cluster ? 'cluster-r3' : 'single', ackWaitMs: DEFAULT_ACK_WAIT_MS, rounds, held: samples.length, resumeMs: summarize(samples) };
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
