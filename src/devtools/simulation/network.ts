/**
 * The simulated NATS server and network. One `SimNetwork` per run holds what nats-server would:
 * subscriptions and queue groups, JetStream streams with their de-duplication window, durable
 * consumers with ack wait and redelivery, and KV buckets with watch. Each service instance talks to
 * it through its own `SimConnection`, a `Transport` like the NATS and in-process ones.
 *
 * Every hop is a task of the simulated loop, with a latency and faults drawn from the run's PRNG
 * (faults.ts). The server itself never crashes and loses nothing it acknowledged: that is
 * JetStream's promise, and the system relies on it. A connection dies with its instance: what it
 * would still have sent (a reply, an ack) is lost, and its unacked deliveries come again after the
 * ack wait, to whichever member of the consumer is alive.
 */
import { Header, type Headers } from '../../contracts/headers.ts';
import { DEFAULT_MAX_ACK_PENDING, DUPLICATE_WINDOW_MS, retryDelayOf, singleFilter } from '../../runtime/transport/consumer-policy.ts';
import { NoRespondersError, RequestTimeoutError, TransportClosedError } from '../../runtime/transport/errors.ts';
import { answer, checkReply } from '../../runtime/transport/reply.ts';
import { subjectMatches } from '../../runtime/transport/in-process/subject-match.ts';
import type {
  Closer, ConsumeOptions, Delivery, EventHandler, Kv, KvEntry, Message, PublishAck, RequestOptions, Responder, RespondOptions, Transport,
} from '../../runtime/transport/transport.ts';
import type { FaultPlan } from './faults.ts';
import type { SimLoop } from './loop.ts';
import type { Prng } from './prng.ts';
import { fingerprint, type Trace } from './trace.ts';

/** How long a JetStream publish or KV operation waits for its acknowledgement (nats.js's default). */
export const JS_TIMEOUT_MS = 5_000;
const NET = 'net';

interface Sub {
  conn: SimConnection;
  pattern: string;
  queue: string | undefined;
  responder: Responder;
}

interface StoredMessage {
  seq: number;
  subject: string;
  data: string;
  headers: Headers;
  msgId: string;
}

interface Stream {
  name: string;
  subjects: readonly string[];
  messages: StoredMessage[];
  /** msgId -> [seq, stored at], for the duplicate window. */
  ids: Map<string, [number, number]>;
}

interface Pending {
  msg: StoredMessage;
  deliveries: number;
  /** Which delivery is current: an ack wait or nak of an older one changes nothing. */
  attempt: number;
  inFlight: boolean;
  acked: boolean;
  availableAt: number;
}

interface Member {
  conn: SimConnection;
  handler: EventHandler;
}

interface Consumer {
  stream: Stream;
  durable: string;
  filter: string | undefined;
  ackWaitMs: number;
  maxAckPending: number;
  members: Member[];
  /** Index into the stream of the next message to deliver for the first time. */
  cursor: number;
  pending: Map<number, Pending>;
  /** First deliveries leave in stream order: none arrives before the one before it. */
  lastArrival: number;
}

interface Watcher {
  conn: SimConnection;
  filter: string;
  onEntry: (e: KvEntry) => void;
  lastArrival: number;
}

interface Bucket {
  entries: Map<string, KvEntry>;
  revision: number;
  watchers: Set<Watcher>;
}

export class SimNetwork {
  private readonly subs: Sub[] = [];
  private readonly streams = new Map<string, Stream>();
  private readonly consumers = new Map<string, Consumer>();
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly loop: SimLoop,
    private readonly faults: FaultPlan,
    private readonly rng: Prng,
    private readonly trace: Trace,
  ) {}

  connect(owner: string): SimConnection {
    return new SimConnection(this, owner);
  }

  /** Every message a stream holds, for the invariants (no event lost). */
  streamMessages(): ReadonlyMap<string, readonly StoredMessage[]> {
    return new Map([...this.streams].map(([name, s]) => [name, s.messages]));
  }

  /** Stream messages some durable consumer has not had acknowledged yet (delivered or not). */
  unacked(): number {
    let n = 0;
    for (const c of this.consumers.values()) {
      for (const p of c.pending.values()) if (!p.acked) n++;
      for (let i = c.cursor; i < c.stream.messages.length; i++) if (!c.filter || subjectMatches(c.filter, c.stream.messages[i]!.subject)) n++;
    }
    return n;
  }

  private hop(fn: () => void, at?: number): void {
    const delay = at === undefined ? this.faults.latency() : at - this.loop.now;
    this.loop.schedule(NET, delay, fn);
  }

  /** A round trip to the server whose answer may be lost: the caller then times out, effect or not. */
  private roundTrip<T>(conn: SimConnection, label: string, apply: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const cancel = this.loop.schedule(conn.owner, JS_TIMEOUT_MS, () => {
        if (done) return;
        done = true;
        reject(new RequestTimeoutError(label, JS_TIMEOUT_MS));
      });
      if (this.faults.drop()) return this.trace.add(`drop ${label} from ${conn.owner}`);
      this.hop(() => {
        let result: T;
        try {
          result = apply();
        } catch (err) {
          done = true;
          cancel();
          return reject(err instanceof Error ? err : new Error(String(err)));
        }
        if (this.faults.drop()) return this.trace.add(`drop ack of ${label} to ${conn.owner}`);
        this.hop(() => {
          if (done || !conn.alive) return;
          done = true;
          cancel();
          resolve(result);
        });
      });
    });
  }

  // ---- core request/reply ----

  request(conn: SimConnection, subject: string, data: string, opts: RequestOptions): Promise<Message> {
    const headers = { ...opts.headers };
    return new Promise<Message>((resolve, reject) => {
      let done = false;
      const finish = (settle: () => void) => {
        if (done || !conn.alive) return;
        done = true;
        cancel();
        settle();
      };
      const cancel = this.loop.schedule(conn.owner, opts.timeoutMs, () => finish(() => reject(new RequestTimeoutError(subject, opts.timeoutMs))));
      const label = `${subject} ${headers[Header.type] ?? ''} key=${headers[Header.idempotencyKey] ?? '-'} body=${fingerprint(data)}`;
      const matching = this.subs.filter((s) => s.conn.alive && subjectMatches(s.pattern, subject));
      if (matching.length === 0) {
        this.trace.add(`no responders ${conn.owner} -> ${subject}`);
        return this.hop(() => finish(() => reject(new NoRespondersError(subject))));
      }
      if (this.faults.drop()) return this.trace.add(`drop request ${conn.owner} -> ${label}`);
      for (const sub of this.pickResponders(matching)) {
        this.hop(() => {
          if (!sub.conn.alive) return;
          this.trace.add(`request ${conn.owner} -> ${sub.conn.owner} ${label}`);
          void answer(sub.responder, { subject, headers: { ...headers }, data }, (err) => {
            // A responder of a crashed instance fails on its closed store: that is the crash, not a bug.
            if (sub.conn.alive) this.loop.uncaught.push(`responder ${subject} on ${sub.conn.owner}: ${String(err)}`);
          }).then((reply) => {
            if (!sub.conn.alive) return;
            const replyHeaders: Headers = { ...reply.headers };
            const code = replyHeaders[Header.errorCode];
            if (this.faults.drop()) return this.trace.add(`drop reply ${sub.conn.owner} -> ${conn.owner} ${subject}`);
            this.hop(() => {
              if (done) return;
              this.trace.add(`reply ${sub.conn.owner} -> ${conn.owner} ${subject} ${code ?? replyHeaders[Header.type] ?? 'ok'} body=${fingerprint(reply.data)}`);
              finish(() => {
                try {
                  checkReply(subject, replyHeaders, reply.data);
                  resolve({ subject, headers: replyHeaders, data: reply.data });
                } catch (err) {
                  reject(err instanceof Error ? err : new Error(String(err)));
                }
              });
            });
          });
        });
      }
    });
  }

  /** Every plain subscriber, and one member of each queue group (chosen by the seed). */
  private pickResponders(matching: Sub[]): Sub[] {
    const groups = new Map<string, Sub[]>();
    const out: Sub[] = [];
    for (const s of matching) {
      if (s.queue === undefined) out.push(s);
      else groups.set(s.queue, [...(groups.get(s.queue) ?? []), s]);
    }
    for (const members of groups.values()) out.push(this.rng.pick(members));
    return out;
  }

  respond(conn: SimConnection, subject: string, responder: Responder, queue: string | undefined): Closer {
    const sub: Sub = { conn, pattern: subject, queue, responder };
    this.subs.push(sub);
    return {
      close: async () => {
        const i = this.subs.indexOf(sub);
        if (i >= 0) this.subs.splice(i, 1);
      },
    };
  }

  // ---- JetStream ----

  ensureStream(name: string, subjects: readonly string[]): void {
    if (!this.streams.has(name)) this.streams.set(name, { name, subjects, messages: [], ids: new Map() });
  }

  publish(conn: SimConnection, subject: string, data: string, headers: Headers, msgId: string): Promise<PublishAck> {
    return this.roundTrip(conn, `publish ${subject}`, () => {
      const stream = [...this.streams.values()].find((s) => s.subjects.some((p) => subjectMatches(p, subject)));
      if (!stream) throw new NoRespondersError(subject);
      const now = this.loop.now;
      const known = stream.ids.get(msgId);
      if (known && now - known[1] < DUPLICATE_WINDOW_MS) {
        this.trace.add(`publish ${conn.owner} ${subject} id=${msgId} duplicate of seq ${known[0]}`);
        return { stream: stream.name, seq: known[0], duplicate: true };
      }
      const msg: StoredMessage = { seq: stream.messages.length + 1, subject, data, headers: { ...headers }, msgId };
      stream.messages.push(msg);
      stream.ids.set(msgId, [msg.seq, now]);
      this.trace.add(`publish ${conn.owner} ${stream.name}#${msg.seq} ${subject} id=${msgId} body=${fingerprint(data)}`);
      for (const c of this.consumers.values()) if (c.stream === stream) this.pump(c);
      return { stream: stream.name, seq: msg.seq, duplicate: false };
    });
  }

  consume(conn: SimConnection, opts: ConsumeOptions, handler: EventHandler): Closer {
    const stream = this.streams.get(opts.stream);
    if (!stream) throw new Error(`stream ${opts.stream} not found`);
    const key = `${opts.stream}/${opts.durable}`;
    let c = this.consumers.get(key);
    if (!c) {
      c = {
        stream, durable: opts.durable, filter: singleFilter(opts.durable, opts.filterSubjects), ackWaitMs: opts.ackWaitMs,
        maxAckPending: opts.maxAckPending ?? DEFAULT_MAX_ACK_PENDING, members: [], cursor: 0, pending: new Map(), lastArrival: 0,
      };
      this.consumers.set(key, c);
    }
    const consumer = c;
    const member: Member = { conn, handler };
    consumer.members.push(member);
    this.hop(() => this.pump(consumer));
    return { close: async () => void (consumer.members = consumer.members.filter((m) => m !== member)) };
  }

  /** Hands out what is due: redeliveries first (oldest first), then new messages in stream order. */
  private pump(c: Consumer): void {
    const alive = c.members.filter((m) => m.conn.alive);
    if (alive.length === 0) return;
    const now = this.loop.now;
    let inFlight = 0;
    for (const p of c.pending.values()) if (p.inFlight) inFlight++;
    for (const p of c.pending.values()) {
      if (inFlight >= c.maxAckPending) return;
      if (p.acked || p.inFlight || p.availableAt > now) continue;
      this.deliver(c, p, this.rng.pick(alive), false);
      inFlight++;
    }
    while (c.cursor < c.stream.messages.length && inFlight < c.maxAckPending) {
      const msg = c.stream.messages[c.cursor++]!;
      if (c.filter && !subjectMatches(c.filter, msg.subject)) continue;
      const p: Pending = { msg, deliveries: 0, attempt: 0, inFlight: false, acked: false, availableAt: now };
      c.pending.set(msg.seq, p);
      this.deliver(c, p, this.rng.pick(alive), true);
      inFlight++;
    }
  }

  private deliver(c: Consumer, p: Pending, m: Member, first: boolean): void {
    p.inFlight = true;
    p.deliveries++;
    const attempt = ++p.attempt;
    const label = `${c.stream.name}#${p.msg.seq} to ${c.durable}@${m.conn.owner} (delivery ${p.deliveries})`;
    const again = (delayMs: number, why: string) => {
      if (p.attempt !== attempt || p.acked) return;
      this.trace.add(`${why} ${label}`);
      p.inFlight = false;
      p.availableAt = this.loop.now + delayMs;
      this.loop.schedule(NET, delayMs, () => this.pump(c));
    };
    this.loop.schedule(NET, c.ackWaitMs, () => again(0, 'ack wait passed'));
    if (this.faults.drop()) return this.trace.add(`drop delivery ${label}`);
    const arrival = Math.max(first ? c.lastArrival : 0, this.loop.now + this.faults.latency());
    if (first) c.lastArrival = arrival;
    this.hop(() => {
      if (!m.conn.alive) return;
      this.trace.add(`deliver ${label} ${p.msg.subject}`);
      const delivery: Delivery = {
        subject: p.msg.subject, headers: { ...p.msg.headers }, data: p.msg.data, seq: p.msg.seq,
        deliveryCount: p.deliveries, redelivered: p.deliveries > 1,
      };
      void Promise.resolve()
        .then(() => m.handler(delivery))
        .then(
          () => {
            if (!m.conn.alive) return;
            if (this.faults.drop() || this.faults.duplicate()) return this.trace.add(`lose ack ${label}`);
            this.hop(() => {
              if (p.acked) return;
              p.acked = true;
              p.inFlight = false;
              this.trace.add(`ack ${label}`);
              c.pending.delete(p.msg.seq);
              this.pump(c);
            });
          },
          (err: unknown) => {
            if (!m.conn.alive) return;
            const delay = retryDelayOf(err);
            this.hop(() => again(delay, `nak (${err instanceof Error ? err.name : 'error'}, retry in ${delay} ms)`));
          },
        );
    }, arrival);
  }

  // ---- KV ----

  private bucket(name: string): Bucket {
    let b = this.buckets.get(name);
    if (!b) this.buckets.set(name, (b = { entries: new Map(), revision: 0, watchers: new Set() }));
    return b;
  }

  private write(name: string, b: Bucket, key: string, value: string): number {
    const entry: KvEntry = { key, value, revision: ++b.revision };
    b.entries.set(key, entry);
    this.trace.add(`kv ${name}/${key} rev ${entry.revision} body=${fingerprint(value)}`);
    for (const w of b.watchers) if (subjectMatches(w.filter, key)) this.notify(w, entry);
    return entry.revision;
  }

  /** Watch updates arrive in order, each after a hop. */
  private notify(w: Watcher, entry: KvEntry): void {
    const at = Math.max(w.lastArrival, this.loop.now + this.faults.latency());
    w.lastArrival = at;
    this.hop(() => {
      if (w.conn.alive) w.onEntry(entry);
    }, at);
  }

  kv(conn: SimConnection, name: string): Kv {
    const b = this.bucket(name);
    return {
      ping: () => this.roundTrip(conn, `kv ping ${name}`, () => undefined),
      get: (key) => this.roundTrip(conn, `kv get ${name}/${key}`, () => b.entries.get(key)),
      put: (key, value) => this.roundTrip(conn, `kv put ${name}/${key}`, () => this.write(name, b, key, value)),
      create: (key, value) =>
        this.roundTrip(conn, `kv create ${name}/${key}`, () => {
          const existing = b.entries.get(key);
          if (existing) return existing;
          this.write(name, b, key, value);
          return undefined;
        }),
      update: (key, value, revision) =>
        this.roundTrip(conn, `kv update ${name}/${key}`, () => ((b.entries.get(key)?.revision ?? 0) === revision ? this.write(name, b, key, value) : undefined)),
      watch: async (filter, onEntry, opts) => {
        const w: Watcher = { conn, filter, onEntry, lastArrival: 0 };
        if (!opts?.updatesOnly) for (const e of b.entries.values()) if (subjectMatches(filter, e.key)) this.notify(w, e);
        b.watchers.add(w);
        return { close: async () => void b.watchers.delete(w) };
      },
    };
  }
}

/** One instance's connection to the simulated server. */
export class SimConnection implements Transport {
  readonly kind = 'nats' as const;
  alive = true;
  private readonly closers: Closer[] = [];

  constructor(
    private readonly net: SimNetwork,
    readonly owner: string,
  ) {}

  private live(): void {
    if (!this.alive) throw new TransportClosedError();
  }

  request(subject: string, data: string, opts: RequestOptions): Promise<Message> {
    if (!this.alive) return Promise.reject(new TransportClosedError());
    return this.net.request(this, subject, data, opts);
  }

  async respond(subject: string, responder: Responder, opts: RespondOptions = {}): Promise<Closer> {
    this.live();
    const c = this.net.respond(this, subject, responder, opts.queue);
    this.closers.push(c);
    return c;
  }

  publish(subject: string, data: string, headers: Headers, msgId: string): Promise<PublishAck> {
    if (!this.alive) return Promise.reject(new TransportClosedError());
    return this.net.publish(this, subject, data, headers, msgId);
  }

  async consume(opts: ConsumeOptions, handler: EventHandler): Promise<Closer> {
    this.live();
    const c = this.net.consume(this, opts, handler);
    this.closers.push(c);
    return c;
  }

  async ensureStream(name: string, subjects: readonly string[]): Promise<void> {
    this.live();
    this.net.ensureStream(name, subjects);
  }

  async kv(bucket: string): Promise<Kv> {
    this.live();
    const kv = this.net.kv(this, bucket);
    const closed = () => Promise.reject(new TransportClosedError());
    return {
      ping: () => (this.alive ? kv.ping() : closed()),
      get: (key) => (this.alive ? kv.get(key) : closed()),
      put: (key, value) => (this.alive ? kv.put(key, value) : closed()),
      create: (key, value) => (this.alive ? kv.create(key, value) : closed()),
      update: (key, value, revision) => (this.alive ? kv.update(key, value, revision) : closed()),
      watch: (filter, onEntry, opts) => (this.alive ? kv.watch(filter, onEntry, opts) : closed()),
    };
  }

  /** The instance died: nothing more goes out, nothing more comes in. */
  kill(): void {
    this.alive = false;
    for (const c of this.closers.splice(0)) void c.close();
  }

  async drain(): Promise<void> {
    this.kill();
  }
}
