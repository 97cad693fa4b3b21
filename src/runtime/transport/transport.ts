/**
 * The network, as the services see it. Two implementations honour the same contract:
 * `NatsTransport` (real nats-server, JetStream, KV) and `InProcessTransport` (the embedded
 * default, with its event log and KV in SQLite). `tests/int/transport.conformance.test.ts`
 * runs one suite against both.
 *
 *  - request/reply with a deadline and typed errors (timeout, no responders, remote error);
 *  - responders in queue groups;
 *  - durable event publishing, de-duplicated by message id;
 *  - durable consumers: at least once, explicit ack, redelivery of anything not acked;
 *  - a small key-value store with atomic create and watch.
 */
import type { Headers } from '../../contracts/headers.ts';

export interface Message {
  subject: string;
  headers: Headers;
  /** UTF-8 JSON body. */
  data: string;
}

export interface Reply {
  headers?: Headers;
  data: string;
}

export interface RequestOptions {
  timeoutMs: number;
  headers?: Headers;
}

/** A responder returns a Reply. Throwing `RemoteError` replies with an error; any other throw replies INTERNAL. */
export type Responder = (msg: Message) => Promise<Reply> | Reply;

export interface RespondOptions {
  /** Queue group: one member answers each request. Defaults to no group. */
  queue?: string;
}

export interface Delivery extends Message {
  /** Stream sequence. */
  seq: number;
  /** Delivery attempt, 1 for the first. */
  deliveryCount: number;
  redelivered: boolean;
}

export interface ConsumeOptions {
  stream: string;
  durable: string;
  filterSubjects: string[];
  /** How long a delivery may stay unacked before it is redelivered. */
  ackWaitMs: number;
  /** How many deliveries may be unacked at once. */
  maxAckPending?: number;
  /**
   * This consumer must be the durable's only member: the in-process transport refuses a second
   * `consume()` of it (exclusive or not) while this one is a member, and this one while another
   * is. For a consumer that relies on nobody else reading its durable: the sole orchestrator,
   * which claims no saga (CheckoutConfig.soleInstance). Set only embedded; NATS ignores it.
   */
  exclusive?: boolean;
}

/**
 * A consumer handler. Resolving acks the delivery; throwing naks it for redelivery after `retryDelayMs`
 * (or the error's `retryAfterMs`). Never called concurrently for the same delivery.
 */
export type EventHandler = (msg: Delivery) => Promise<void>;

export interface PublishAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export interface KvEntry {
  key: string;
  value: string;
  revision: number;
}

export interface Kv {
  get(key: string, opts?: GetOptions): Promise<KvEntry | undefined>;
  put(key: string, value: string): Promise<number>;
  /** Atomic create: resolves `undefined` if it created the key, or the existing entry if the key exists. */
  create(key: string, value: string): Promise<KvEntry | undefined>;
  /**
   * Compare-and-set: writes `value` only if the key's latest revision is still `revision` (0: only
   * if the key does not exist); resolves with the new revision, or `undefined` if the key moved on
   * (another writer came in). The server decides, so of two racing writers at most one wins.
   */
  update(key: string, value: string, revision: number): Promise<number | undefined>;
  /**
   * Watches keys matching a filter (`*` and `>` wildcards, NATS style): current values first, then
   * updates, in revision order. With `updatesOnly`, no current value: every write committed after
   * the returned promise resolves (and perhaps some made while it was being set up), so a caller
   * that needs a key's value reads it after that, and drops what its revision says it has.
   */
  watch(filter: string, onEntry: (e: KvEntry) => void, opts?: WatchOptions): Promise<Closer>;
  /**
   * A round trip to the server this client is connected to, not to the bucket's leader (NATS: a
   * PING): it goes unanswered when this process is cut off from the cluster, and is answered while
   * the bucket merely has no leader. In-process there is no server between, and it always resolves.
   */
  ping(): Promise<void>;
}

export interface GetOptions {
  /**
   * Read from the bucket's leader, the one replica that takes writes: the read fails (times out)
   * while the bucket has no leader (an election) or the leader cannot be reached, as a write would.
   * A plain read may be answered by any replica, also while nobody can write. In-process there is
   * one copy, and every read is this one.
   */
  fromLeader?: boolean;
}

export interface WatchOptions {
  /** Skip the current values (a watch over a whole bucket then costs nothing at open). */
  updatesOnly?: boolean;
}

export interface Closer {
  close(): Promise<void>;
}

/** One message of a replicated log subject, with its stream sequence. */
export interface LogEntry {
  seq: number;
  headers: Headers;
  data: string;
}

/**
 * An append-only log per subject that a cluster replicates (a JetStream stream, R3 on a 3-node
 * cluster), with an optimistic-concurrency append: the writer names the sequence of the subject's
 * last message it knows, and the server refuses the append if another writer came in between.
 * That refusal is what fences a stale owner (replication.ts).
 */
export interface ReplicatedLog {
  /**
   * Appends to `subject` if its last message is still `expectLastSeq` (0: none yet); resolves with
   * the new sequence. A repeat of an append that was stored (same `msgId`) resolves with its
   * sequence. Rejects with `LogFenced` if another writer appended meanwhile.
   */
  append(subject: string, data: string, headers: Headers, msgId: string, expectLastSeq: number): Promise<number>;
  /** Appends to `subject` unconditionally (a checkpoint's chunks); a repeat of `msgId` is stored once. */
  put(subject: string, data: string, headers: Headers, msgId: string): Promise<number>;
  /** The subject's last message, if any. */
  last(subject: string): Promise<LogEntry | undefined>;
  /** Calls `onEntry` with each message of `subject` with sequence above `afterSeq`, up to `throughSeq`, in order. */
  read(subject: string, afterSeq: number, throughSeq: number, onEntry: (e: LogEntry) => void): Promise<void>;
  /** Drops the subject's messages below `keepFromSeq`. */
  trim(subject: string, keepFromSeq: number): Promise<void>;
}

/** Another writer appended to the subject since the sequence this writer expected: it is no longer the owner. */
export class LogFenced extends Error {
  override readonly name = 'LogFenced';
  constructor(
    readonly subject: string,
    readonly expected: number,
    /** What the log answered (for the logs): the subject's last sequence then, or none; and whether the append was refused or taken as a repeat. */
    readonly found?: { last: number | undefined; how: 'refused' | 'repeat' },
  ) {
    super(`${subject}: another writer appended after sequence ${expected}; this one is fenced${found ? ` (append ${found.how === 'refused' ? 'refused' : 'taken as a repeat of an earlier one'}; the subject's last message: ${found.last ?? 'none'})` : ''}`);
  }
}

/**
 * The log's server does not agree with itself about a subject: it finds no last message while its
 * own count of the subject's messages says it holds some, or it answers a question about one
 * subject with a message of another (nats-server 2.9.10, after a node's silent cut healed:
 * docs/benchmarks.md, "The journal's index lost"). Its compare-and-set reads the same index, so it
 * would refuse every append but one that expects an empty subject, which would start a second
 * history on top of the first: nothing is appended or read until it answers consistently again.
 */
export class LogIndexBroken extends Error {
  override readonly name = 'LogIndexBroken';
  constructor(
    readonly subject: string,
    readonly why: string,
  ) {
    super(`${subject}: the log's server ${why}; nothing is appended or read until it agrees with itself`);
  }
}

export interface Transport {
  request(subject: string, data: string, opts: RequestOptions): Promise<Message>;
  respond(subject: string, responder: Responder, opts?: RespondOptions): Promise<Closer>;
  /** Publishes an event durably. `msgId` de-duplicates within the stream's duplicate window. */
  publish(subject: string, data: string, headers: Headers, msgId: string): Promise<PublishAck>;
  consume(opts: ConsumeOptions, handler: EventHandler): Promise<Closer>;
  /** Creates the streams and buckets this service uses, if missing. Idempotent. */
  ensureStream(name: string, subjects: readonly string[]): Promise<void>;
  kv(bucket: string): Promise<Kv>;
  /**
   * Listens to every message on `subject` (wildcards allowed) outside any queue group, without
   * answering: a tap for live views that need no durability (tests, inspectors). Optional.
   */
  subscribeAll?(subject: string, onMsg: (m: Message) => void): Promise<Closer>;
  /**
   * The replicated log the journals are shipped to (distributed mode only): its stream is created
   * if missing. Absent in embedded mode, where a store's journal is not replicated.
   */
  replicatedLog?(stream: string, subjects: readonly string[]): Promise<ReplicatedLog>;
  /** Stops taking work, lets in-flight handlers finish, then closes. */
  drain(): Promise<void>;
}
