/**
 * The Transport contract over a real nats-server: core request/reply, JetStream streams and durable
 * pull consumers, and NATS KV.
 *
 * Request/reply does not use `nc.request()`: that costs a subscription round of bookkeeping and two
 * stack-trace Errors per call and tops out at roughly a third of the throughput (measured on this kind of machine: 11-17k req/s at
 * 64 in flight, against 58-66k with one reply subscription; docs/architecture.md, "NATS is the network").
 * Instead each connection holds one wildcard reply subscription `<inboxPrefix>.<nuid>.*` and routes
 * replies to callers by the last token. The inbox prefix is per service (`_INBOX.<service>`) so that
 * nats.conf can allow each user to subscribe to its own replies only; nats.js uses the same prefix
 * for its JetStream and KV inboxes. JetStream publishes go the same way (a publish is a request
 * whose reply is the stream's PubAck): nats.js's `js.publish()` runs each through `nc.request()`,
 * which arms a timer and, even with `noAsyncTraces`, builds a stack-trace Error on every successful
 * call when it cancels the finished request (1.2-1.4% of a service's CPU in the profile).
 */
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import {
  connect,
  errors as natsErrors,
  nuid,
  type Msg,
  type NatsConnection,
  type Subscription,
  type TlsOptions,
} from '@nats-io/transport-node';
import { Header, type Headers } from '../../contracts/headers.ts';
import { NoRespondersError, RequestTimeoutError, TransportClosedError } from './errors.ts';
import { InFlight, stopIntake } from './in-flight.ts';
import { DEFAULT_MAX_ACK_PENDING, EVENT_RETENTION_MS, MAX_HOLD_MS, retryDelayOf } from './consumer-policy.ts';
import { durableIsAsAsked, ensureNatsStream, ifConsumerMissing, ifJustCreated, retryWhileDegraded, upsertDurable } from './nats-jetstream.ts';
import { openNatsKv, type NatsKv } from './nats-kv.ts';
import { LOG_REQUEST_TIMEOUTS_MS, NatsLog } from './nats-log.ts';
import { mapNatsError, PermissionDeniedError, pubAckOf } from './nats-mapping.ts';
import { readHeaders, toNatsHeaders } from './nats-headers.ts';
import { flushOncePerTurn } from './nats-flush.ts';
import { authenticatorFor, type NatsCredentials } from './nats-credentials.ts';
import { answer, checkReply } from './reply.ts';
import { natsReconnects } from '../metrics.ts';
import type {
  Closer,
  ConsumeOptions,
  Delivery,
  EventHandler,
  Kv,
  Message,
  ReplicatedLog,
  PublishAck,
  RequestOptions,
  Responder,
  RespondOptions,
  Transport,
} from './transport.ts';

export { PermissionDeniedError };

export interface NatsConnectOptions {
  servers: string | string[];
  user?: string;
  pass?: string;
  /** A credential from the environment or files (nats-credentials.ts); instead of user/pass. */
  credentials?: NatsCredentials;
  /** TLS to nats-server (CA, client certificate); a `tls://` URL requires TLS too. */
  tls?: TlsOptions;
  /** Connection name shown by the server's monitoring. */
  name?: string;
  /** Subject prefix of every inbox this connection creates. Defaults to `_INBOX.<user>`, or `_INBOX`. */
  inboxPrefix?: string;
  /** Where failures that nobody awaits go (responder crashes, failed acks). Defaults to console.error. */
  onError?: (err: unknown, context: string) => void;
  /** Copies of each stream and KV bucket this connection creates: 1 on a single server, 3 on a 3-node cluster. */
  replicas?: number;
  /** The pause between reconnect attempts; nats.js's 2 s unless set (a test counting attempts shortens it). */
  reconnectTimeWaitMs?: number;
}

/** NATS_URL's servers: one URL, or a comma list of a cluster's (the client fails over between them). */
export const natsServers = (natsUrl: string): string[] => natsUrl.split(',').map((u) => u.trim()).filter(Boolean);

export async function connectNats(opts: NatsConnectOptions): Promise<NatsTransport> {
  const inboxPrefix = opts.inboxPrefix ?? (opts.user ? `_INBOX.${opts.user}` : '_INBOX');
  const nc = await connect({
    servers: opts.servers,
    ...(opts.user !== undefined ? { user: opts.user, pass: opts.pass ?? '' } : {}),
    ...(opts.credentials ? { authenticator: authenticatorFor(opts.credentials) } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    inboxPrefix,
    noAsyncTraces: true,
    // Reconnect for as long as it takes (nats.js gives up after 10 attempts, 2 s apart): a process
    // cut off from NATS for longer than ~20 s would otherwise keep a closed connection for good,
    // neither serving nor exiting. Its leases keep it safe meanwhile (tests/int/nats-reconnect.test.ts).
    maxReconnectAttempts: -1,
    ...(opts.reconnectTimeWaitMs !== undefined ? { reconnectTimeWait: opts.reconnectTimeWaitMs } : {}),
  });
  // One socket write per event-loop turn rather than per macrotask (nats-flush.ts).
  flushOncePerTurn(nc);
  const t = new NatsTransport(nc, inboxPrefix, opts.onError ?? defaultOnError, opts.user ?? 'default', opts.replicas ?? 1);
  await t.start();
  return t;
}

/**
 * Connects, retrying an unreachable server with capped exponential backoff (0.25 s doubling to
 * 5 s) for as long as it takes, and telling `onWait` before each wait. Other failures (bad
 * credentials, a refused permission) are not retried.
 */
export async function connectWithRetry<T>(connectOnce: () => Promise<T>, onWait: (attempt: number, delayMs: number, err: unknown) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce();
    } catch (err) {
      if (!(err instanceof Error) || err.name !== 'ConnectionError' || /auth/i.test(err.message)) throw err;
      const delayMs = Math.min(5_000, 250 * 2 ** Math.min(attempt - 1, 5));
      onWait(attempt, delayMs, err);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

function defaultOnError(err: unknown, context: string): void {
  console.error(`[nats transport] ${context}:`, err);
}

interface Pending {
  subject: string;
  timer: NodeJS.Timeout;
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
}

export class NatsTransport implements Transport {
  private readonly replyPrefix: string;
  private readonly pending = new Map<string, Pending>();
  private nextId = 0;
  private replySub: Subscription | undefined;
  private readonly inflight = new InFlight();
  private readonly consumerClosers = new Set<Closer>();
  private readonly subClosers = new Set<Closer>();
  private readonly kvs = new Map<string, Promise<NatsKv>>();
  private readonly js: JetStreamClient;
  /** JetStream contexts for provisioning, by how long their requests wait for an answer (whileDegraded). */
  private readonly apis = new Map<number, { js: JetStreamClient; jsm: Promise<JetStreamManager> }>();
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(
    readonly nc: NatsConnection,
    inboxPrefix: string,
    private readonly onError: (err: unknown, context: string) => void,
    private readonly connectionName = 'default',
    private readonly replicas = 1,
  ) {
    this.replyPrefix = `${inboxPrefix}.${nuid.next()}`;
    // checkAPI would send $JS.API.INFO before the first JetStream call; the calls themselves report a
    // disabled JetStream anyway, and this keeps $JS.API.INFO out of every user's permissions.
    this.js = jetstream(nc, { checkAPI: false });
  }

  /** Opens the reply subscription and starts watching for permission errors. */
  async start(): Promise<void> {
    this.replySub = this.nc.subscribe(`${this.replyPrefix}.*`, {
      callback: (err, msg) => this.onReply(err, msg),
    });
    await this.confirmSubscription(this.replySub);
    void this.watchStatus();
  }

  async request(subject: string, data: string, opts: RequestOptions): Promise<Message> {
    if (this.closed) throw new TransportClosedError();
    const id = (this.nextId++).toString(36);
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(subject, opts.timeoutMs));
      }, opts.timeoutMs);
      this.pending.set(id, { subject, timer, resolve, reject });
      try {
        this.nc.publish(subject, data, {
          reply: `${this.replyPrefix}.${id}`,
          headers: toNatsHeaders(opts.headers),
        });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(mapNatsError(err, subject, opts.timeoutMs));
      }
    });
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err) return;
    const id = msg.subject.slice(this.replyPrefix.length + 1);
    const p = this.pending.get(id);
    if (!p) return; // late reply to a request that already timed out
    this.pending.delete(id);
    clearTimeout(p.timer);
    // With headers enabled the server answers a request nobody subscribes to with a 503 status message.
    const { headers, code } = readHeaders(msg);
    if (code === 503) {
      p.reject(new NoRespondersError(p.subject));
      return;
    }
    const data = msg.string();
    try {
      checkReply(p.subject, headers, data);
    } catch (e) {
      p.reject(e as Error);
      return;
    }
    // The reply's own subject is our private inbox; callers care which request it answers.
    p.resolve({ subject: p.subject, headers, data });
  }

  async respond(subject: string, responder: Responder, opts: RespondOptions = {}): Promise<Closer> {
    if (this.draining) throw new TransportClosedError();
    const mine = new InFlight();
    const sub = this.nc.subscribe(subject, {
      ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
      callback: (err, msg) => {
        if (err || !msg.reply) return;
        const replyTo = msg.reply;
        const req: Message = {
          subject: msg.subject,
          headers: readHeaders(msg).headers,
          data: msg.string(),
        };
        const p = answer(responder, req, (e) => this.onError(e, `responder ${subject}`)).then((r) => {
          if (this.nc.isClosed()) return;
          this.nc.publish(replyTo, r.data, { headers: toNatsHeaders(r.headers) });
        });
        const guarded = p.catch((e: unknown) => this.onError(e, `reply on ${subject}`));
        mine.track(guarded);
        this.inflight.track(guarded);
      },
    });
    await this.confirmSubscription(sub);
    const closer: Closer = {
      close: async () => {
        this.subClosers.delete(closer);
        if (!sub.isClosed() && !this.nc.isClosed()) await sub.drain().catch(() => undefined);
        await mine.settled();
      },
    };
    this.subClosers.add(closer);
    return closer;
  }

  async publish(subject: string, data: string, headers: Headers, msgId: string): Promise<PublishAck> {
    return this.jsPublish(subject, data, { ...headers, [Header.natsMsgId]: msgId });
  }

  /** A JetStream publish (also a KV write: `$KV.<bucket>.<key>`); no stream capturing the subject is no responders. */
  private async jsPublish(subject: string, data: string, headers: Headers): Promise<PublishAck> {
    const reply = await this.request(subject, data, { timeoutMs: PUBLISH_TIMEOUT_MS, headers });
    return pubAckOf(subject, reply.data);
  }

  async consume(opts: ConsumeOptions, handler: EventHandler): Promise<Closer> {
    if (this.draining) throw new TransportClosedError();
    const maxAckPending = opts.maxAckPending ?? DEFAULT_MAX_ACK_PENDING;
    // A durable that exists as asked (an earlier owner's, on a takeover) is only looked up.
    const existing = await this.whileDegraded(`consumer ${opts.durable}`, ({ js }) => js.consumers.get(opts.stream, opts.durable).catch(ifConsumerMissing));
    let consumer = existing && durableIsAsAsked((await existing.info(true)).config, opts, maxAckPending) ? existing : undefined;
    if (!consumer) {
      await this.whileDegraded(`consumer ${opts.durable}`, ({ jsm }) => upsertDurable(jsm, opts, maxAckPending));
      consumer = await this.whileDegraded(`consumer ${opts.durable}`, ({ js }) => js.consumers.get(opts.stream, opts.durable).catch(ifJustCreated(opts.durable)));
    }
    const mine = new InFlight();
    let stopping = false;
    const progress = new ProgressAcks(opts.ackWaitMs, (err) => this.onError(err, `progress ack for ${opts.durable}`));
    const messages = await consumer.consume({
      // Handlers run concurrently, each message as soon as it arrives (so none waits in a buffer
      // without progress acks); the server's max_ack_pending is what bounds them. Pulls are small
      // so that a burst spreads over the members rather than going to whichever asked first.
      max_messages: Math.min(maxAckPending, PULL_BATCH),
      callback: (m: JsMsg) => {
        // Whatever arrives after close goes straight back, so another puller need not wait ackWait.
        if (stopping) return this.settle(() => m.nak(), opts.durable);
        const delivery: Delivery = {
          subject: m.subject,
          headers: readHeaders(m).headers,
          data: m.string(),
          seq: m.seq,
          deliveryCount: m.info.deliveryCount,
          redelivered: m.info.redelivered,
        };
        const done = progress.hold(m);
        const p = Promise.resolve()
          .then(() => handler(delivery))
          .finally(done)
          .then(
            () => this.settle(() => m.ack(), opts.durable),
            (err: unknown) => this.settle(() => m.nak(retryDelayOf(err)), opts.durable),
          );
        mine.track(p);
        this.inflight.track(p);
      },
    });
    const closer: Closer = {
      close: async () => {
        this.consumerClosers.delete(closer);
        stopping = true;
        await messages.close().catch(() => undefined);
        await mine.settled();
        progress.stop();
      },
    };
    this.consumerClosers.add(closer);
    return closer;
  }

  private settle(fn: () => void, durable: string): void {
    try {
      fn();
    } catch (err) {
      // A lost ack or nak only means a redelivery after ack_wait: at least once still holds.
      this.onError(err, `ack/nak for ${durable}`);
    }
  }

  /** A domain event stream: kept EVENT_RETENTION_MS (docs/architecture.md, "Retention"). */
  async ensureStream(name: string, subjects: readonly string[]): Promise<void> {
    await this.provisionStream(name, subjects, EVENT_RETENTION_MS);
  }

  /**
   * Once per stream and connection: every slot a process opens ensures its service's streams and
   * the journal's, and a survivor taking over a lost machine's slots asked again for streams it had
   * ensured at its own start, each a JetStream API round trip (seconds, on a loaded machine, while the
   * slots waited to serve). A failed try is forgotten, so the next caller asks again.
   */
  private provisionStream(name: string, subjects: readonly string[], maxAgeMs?: number, allowDirect = false): Promise<{ allowDirect: boolean }> {
    const key = JSON.stringify([name, subjects, maxAgeMs, allowDirect]);
    let p = this.provisioned.get(key);
    if (!p) {
      p = this.whileDegraded(`stream ${name}`, ({ jsm }) => ensureNatsStream(jsm, name, subjects, this.replicas, maxAgeMs, allowDirect));
      this.provisioned.set(key, p);
      p.catch(() => this.provisioned.delete(key));
    }
    return p;
  }

  /** Streams this connection has ensured (provisionStream), by name, subjects and age limit. */
  private readonly provisioned = new Map<string, Promise<{ allowDirect: boolean }>>();

  /**
   * Provisioning retried while a cluster elects a leader or misses a node (nats-jetstream.ts). Each
   * try waits a short time for its answer, then longer (LOG_REQUEST_TIMEOUTS_MS: 1 s, 2 s, then 5 s,
   * nats.js's default for every call), as the journal's reads do: a request sent while a stream's
   * leader was being elected is never answered, and with 5 s for every try a new owner of a slot
   * started its consumers up to 5 s after the new leader was up (the cluster test: a node killed
   * 1 s before a machine, four slots' stream lookups answered only at their retries, 5.1-5.3 s).
   * Every call here is idempotent (a stream or a durable created with the same settings again).
   */
  private whileDegraded<T>(what: string, fn: (api: { js: JetStreamClient; jsm: JetStreamManager }) => Promise<T>): Promise<T> {
    let attempt = 0;
    return retryWhileDegraded(
      what,
      async () => {
        const timeout = LOG_REQUEST_TIMEOUTS_MS[Math.min(attempt++, LOG_REQUEST_TIMEOUTS_MS.length - 1)]!;
        let api = this.apis.get(timeout);
        if (!api) this.apis.set(timeout, (api = { js: jetstream(this.nc, { checkAPI: false, timeout }), jsm: jetstreamManager(this.nc, { checkAPI: false, timeout }) }));
        return fn({ js: api.js, jsm: await api.jsm });
      },
      PROVISIONING_PATIENCE_MS,
      (w, err) => this.onError(err, `${w}: JetStream is degraded; retrying`),
    );
  }

  async replicatedLog(stream: string, subjects: readonly string[]): Promise<ReplicatedLog> {
    // No age limit: the journals are trimmed by their stores (nats-log.ts), never by time. Direct
    // gets: a new owner's rebuild reads through every replica, not only the stream's leader.
    const { allowDirect } = await this.provisionStream(stream, subjects, undefined, true);
    return new NatsLog(
      stream,
      this.nc,
      (subject, data, headers) => this.jsPublish(subject, data, headers),
      (what, err) => this.onError(err, `${what}: JetStream is degraded; retrying`),
      PROVISIONING_PATIENCE_MS,
      undefined,
      allowDirect,
    );
  }

  async kv(bucket: string): Promise<Kv> {
    if (this.closed) throw new TransportClosedError();
    let kv = this.kvs.get(bucket);
    if (!kv) {
      kv = this.whileDegraded(`kv ${bucket}`, () =>
        openNatsKv(this.js, bucket, (subject, data, headers) => this.jsPublish(subject, data, headers), this.onError, this.replicas, () => this.nc.flush()),
      );
      this.kvs.set(bucket, kv);
      kv.catch(() => this.kvs.delete(bucket));
    }
    return kv;
  }

  async subscribeAll(subject: string, onMsg: (m: Message) => void): Promise<Closer> {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          onMsg({ subject: msg.subject, headers: readHeaders(msg).headers, data: msg.string() });
        } catch (e) {
          this.onError(e, `subscriber ${subject}`);
        }
      },
    });
    await this.confirmSubscription(sub);
    const closer: Closer = {
      close: async () => {
        this.subClosers.delete(closer);
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
    this.subClosers.add(closer);
    return closer;
  }

  drain(): Promise<void> {
    this.draining ??= this.doDrain();
    return this.draining;
  }

  private async doDrain(): Promise<void> {
    // The reply subscription and the connection stay up until the handlers still running are done.
    await stopIntake(this.consumerClosers, this.subClosers, this.inflight);
    await Promise.allSettled([...this.kvs.values()].map(async (kv) => (await kv).closeWatchers()));
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TransportClosedError());
      this.pending.delete(id);
    }
    if (!this.nc.isClosed()) await this.nc.drain();
  }


  /**
   * A subscription the server refuses is only reported asynchronously; a flush round trip makes
   * the refusal arrive (and close the subscription) before we report success.
   */
  private async confirmSubscription(sub: Subscription): Promise<void> {
    let failure: Error | undefined;
    void sub.closed.then((r) => {
      if (r instanceof Error) failure = r;
    });
    await this.nc.flush();
    await Promise.resolve();
    if (failure) {
      throw failure instanceof natsErrors.PermissionViolationError
        ? new PermissionDeniedError('subscribe', sub.getSubject(), { cause: failure })
        : failure;
    }
  }

  /** Fails pending requests fast when the server refuses their publish, rather than letting them time out. */
  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'reconnect') natsReconnects.inc({ connection: this.connectionName });
      if (s.type !== 'error') continue;
      const err = s.error;
      if (!(err instanceof natsErrors.PermissionViolationError)) {
        this.onError(err, 'server error');
        continue;
      }
      if (err.operation !== 'publish') continue;
      for (const [id, p] of this.pending) {
        if (p.subject !== err.subject) continue;
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(new PermissionDeniedError('publish', err.subject, { cause: err }));
      }
    }
  }
}

/** How many messages one pull asks for (nats.js's default is 100; it was 256 here). */
export const PULL_BATCH = 32;

/**
 * Keeps deliveries whose handler is still running from being redelivered: every third of the ack
 * wait, each one held longer than that gets a progress ack (`+WPI`, which restarts the server's ack
 * wait). A short ack wait then bounds only how long a *dead* instance holds its messages, not how
 * long a live handler may run (up to MAX_HOLD_MS). One timer per consumer, armed only while
 * something is held.
 */
export class ProgressAcks {
  private readonly held = new Map<JsMsg, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly everyMs: number;

  constructor(
    ackWaitMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.everyMs = Math.max(50, Math.floor(ackWaitMs / 3));
  }

  /** Starts holding `m`; call the returned function when its handler has finished. */
  hold(m: Pick<JsMsg, 'working'>): () => void {
    const msg = m as JsMsg;
    this.held.set(msg, this.now());
    this.timer ??= setInterval(() => this.tick(), this.everyMs).unref();
    return () => {
      this.held.delete(msg);
      if (this.held.size === 0) this.stop();
    };
  }

  get size(): number {
    return this.held.size;
  }

  tick(): void {
    const now = this.now();
    for (const [m, since] of this.held) {
      if (since > now - this.everyMs || since < now - MAX_HOLD_MS) continue;
      try {
        m.working();
      } catch (err) {
        this.onError(err);
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** How long provisioning waits for a degraded cluster before the service gives up starting. */
const PROVISIONING_PATIENCE_MS = 60_000;

/** What nats.js's js.publish() waits for by default. */
const PUBLISH_TIMEOUT_MS = 5_000;
