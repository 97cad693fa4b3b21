/**
 * The durable actor host: machines decide, the host acts.
 *
 * For one inbound message, inside ONE transaction of the service's store, the host
 *   1. returns the stored reply if the message's key is in the journal's inbox window (a duplicate);
 *   2. loads the actor (hot cache, else the journal's latest state, else the checkpointed row);
 *   3. computes `transition(machine, snapshot, event)`: pure, nothing is executed by xstate
 *      (pure-transition.ts: the same function with its inert scope built once);
 *   4. executes the returned actions as *effects*: messages to send, timers, local table writes;
 *   5. appends ONE journal record (journal-record.ts): event and machine version (the snapshot
 *      is not stored: the event rebuilds it, record-replay.ts), effects with their derived ids,
 *      timers armed and cancelled, inbox key and reply.
 * Only after the commit does anyone hear about it: the caller gets its reply, the relay
 * publishes, the scheduler re-arms. A crash anywhere loses nothing that was answered and
 * duplicates no effect: before the commit nothing happened; after it, the relay re-sends from the
 * journal with the same message id and idempotency key, which downstream inboxes and JetStream
 * de-duplicate.
 *
 * Every snapshot is stored with its machine's version. Before a host runs, it checks that each
 * in-flight snapshot's state still exists in the machine it runs now, and refuses to start (naming
 * the actors) unless a migration from that version is registered. With an inspector attached, it
 * reports each committed transition (actor, event, snapshot) to it, e.g. @statelyai/inspect.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventFrom, EventObject, StateMachine, StateValue } from 'xstate';
import type { ZodType } from 'zod';
import type { MessageMeta } from '../contracts/headers.ts';
import type { Clock } from './clock.ts';
import { derivedMessageId } from './ids.ts';
import { childTraceparent } from './tracing.ts';
import { HotCache } from './hot-cache.ts';
import { Mailboxes } from './mailbox.ts';
import { pureTransitions, type PureTransitions } from './pure-transition.ts';
import { InspectionReporter, type HostInspector } from './inspection.ts';
import type { Db, Store } from './store.ts';
import { Journal } from './journal.ts';
import type { JournalRecord, OutboundEffect, TimerOp } from './journal-record.ts';
import { errorReply } from './transport/reply.ts';
import { checkStoredVersions, persistedSnapshotOf, type PersistedSnapshot, type SnapshotMigrations } from './versioning.ts';
import { RECORD_FORMAT, replayerOf, restore } from './record-replay.ts';
import type { Reply } from './transport/transport.ts';

/** What an action executor may do. Everything lands in the same transaction. */
export interface Effects {
  readonly now: number;
  readonly db: Db;
  readonly actorId: string;
  /** The message being handled, if any (a timer has none). */
  readonly cause: MessageMeta | undefined;
  /** Sends a command after commit; its reply comes back to this actor as an event. */
  request(r: OutboundRequest): void;
  /** Publishes a domain event after commit. */
  publish(e: OutboundEvent): void;
  /** Writes a KV entry after commit (e.g. a status document others watch). */
  kvPut(bucket: string, key: string, value: unknown): void;
  /** Abandons an outstanding request: a reply to it, if one still comes, is dropped. */
  cancelRequest(slot: string): void;
  /** Arms (or re-arms) a named durable timer that delivers `event` to this actor. */
  setTimer(name: string, delayMs: number, event: { type: string; [key: string]: unknown }): void;
  cancelTimer(name: string): void;
}

export interface OutboundRequest {
  /** Names the outstanding request within the actor, e.g. 'reserveInventory'. */
  slot: string;
  subject: string;
  type: string;
  payload: unknown;
  idempotencyKey: string;
  timeoutMs: number;
}

export interface OutboundEvent {
  subject: string;
  type: string;
  payload: unknown;
  /** Defaults to an id derived from the actor, its event sequence and the action's position. */
  messageId?: string;
}

/** Carries out one action the machine returned, with the params the machine gave it. */
export type Executor<P = never> = (params: P, fx: Effects, snapshot: AnyMachineSnapshot) => void;

/** The named actions of a machine made with `setup({ actions })`, as `{type, params}`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the other type parameters are irrelevant here
type ActionsOf<M> = M extends StateMachine<any, any, any, any, infer A, any, any, any, any, any, any, any, any, any, any> ? A : never;

/**
 * The actions the host carries out: those whose params the machine declares. By convention a
 * machine declares them on every action the host executes (`Record<string, never>` when there are
 * none); its `assign` actions have undeclared params, and xstate applies them itself.
 */
type HostActionsOf<M> = ActionsOf<M> extends infer A ? (A extends { type: string; params: infer P } ? (unknown extends P ? never : A) : never) : never;

/**
 * One executor per action the host carries out, keyed by the action's name and typed by its
 * params: an action without an executor, or an executor for params the action does not have, is
 * a compile error.
 */
export type Executors<M extends AnyStateMachine> = AnyStateMachine extends M
  ? Record<string, Executor<never>>
  : { [A in HostActionsOf<M> as A['type']]: Executor<A['params']> };

/** An executor that publishes one domain event whose payload is derived from the snapshot after the transition. */
export const publishes =
  (subject: string, type: string, payloadOf: (snapshot: AnyMachineSnapshot) => unknown): Executor<unknown> =>
  (_p, fx, snapshot) =>
    fx.publish({ subject, type, payload: payloadOf(snapshot) });

/**
 * `DeliverOptions.reply` for a delivery nobody answers (a reply, an event, a timer): the default
 * reply without a function made per delivery (tsx's keepNames names each one at run time:
 * docs/benchmarks.md, "Closures named at run time").
 */
export const noReply = (): undefined => undefined;

/** The input a new actor of `def` starts from. */
export const actorInput = (def: ActorDefinition, id: string): unknown => (def.input ? def.input(id) : { id });

/** What came back for a request: a typed reply, or an error reply that is not transient. */
export type RequestOutcome =
  | { ok: true; type: string; data: string; meta: MessageMeta | undefined }
  | { ok: false; code: string; message: string };

export interface ActorDefinition<M extends AnyStateMachine = AnyStateMachine> {
  kind: string;
  machine: M;
  /** Bumped whenever a change to the machine could break stored snapshots. */
  version: string;
  /** Parses a stored context; a snapshot that does not parse is refused, not half-loaded. */
  context?: ZodType;
  /** The machine's input for a new actor; `{ id }` unless the machine wants more. */
  input?(id: string): unknown;
  /** One executor per named action the machine can return (see Executors). */
  executors: Executors<M>;
  /** Turns the outcome of a request (by slot) into the event for this actor. */
  onReply?(slot: string, outcome: RequestOutcome): EventObject | undefined;
  /**
   * By the version that stored a snapshot: turns it into one this version's machine accepts. An
   * older snapshot without one loads as it is, provided its state still exists (versioning.ts).
   */
  migrations?: SnapshotMigrations;
}

export interface Transitioned {
  snapshot: AnyMachineSnapshot;
  previous: AnyMachineSnapshot | undefined;
  changed: boolean;
  actions: readonly { type: string; params?: unknown }[];
}

export interface DeliverOptions {
  /** Inbox key: an idempotency key or message id. A repeat gets the stored reply. */
  inboxKey?: string;
  cause?: MessageMeta;
  /**
   * Builds the reply inside the transaction, so that it is stored with the change. Returning
   * undefined falls back to the default: `{}` when the machine accepted the event, CONFLICT when not.
   */
  reply?: (t: Transitioned) => Reply | undefined;
  /** Run inside the same transaction before the transition. */
  also?: (db: Db) => void;
  /**
   * The reply to this actor's pending request: delivered only if that request (by slot and
   * message id) is still pending, and finishing it in the same record, whether or not the machine
   * accepts the event. A second delivery of the same reply finds it finished: that is its de-duplication.
   */
  replyTo?: { slot: string; messageId: string };
  /** A timer firing: delivered only if that arming (name and sequence) is still armed, and disarming it. */
  timer?: { name: string; seq: number };
}

/** A committed transition, as observers see it (metrics.ts counts checkouts from these). */
export interface Committed {
  id: string;
  event: EventObject;
  previous: AnyMachineSnapshot | undefined;
  next: AnyMachineSnapshot;
}

export interface DeliverResult {
  duplicate: boolean;
  changed: boolean;
  reply: Reply | undefined;
  snapshot: AnyMachineSnapshot | undefined;
}

interface Cached {
  snapshot: AnyMachineSnapshot;
  seq: number;
  /** Journal position of its latest record. */
  pos: number;
}

export interface HostContext {
  store: Store;
  clock: Clock;
  /** CloudEvents source of what the actors send: their service's (registry.ts). */
  source: string;
  /** Called after a commit that wrote messages to send or timers. */
  onEffects(): void;
  /** How many actors stay hot in memory (least recently used leave first). Default `HOT_ACTORS`. */
  maxCached?: number;
  /** Where committed transitions are reported (inspection.ts), e.g. @statelyai/inspect. */
  inspect?: HostInspector | undefined;
}

/**
 * Hot actors kept per kind. An actor is hot while its checkout is in flight (a second or two); a
 * cold one loads from the journal or its checkpointed row. 2,000 covers several seconds of
 * checkouts at today's rates; 10,000 kept five times the live snapshots for no hits and cost
 * CPU and peak memory in long runs (20,000 checkouts: 324 against 384/s, 840 against 649 MiB).
 */
export const HOT_ACTORS = 2_000;

export class ActorHost<M extends AnyStateMachine = AnyStateMachine> {
  readonly kind: string;
  /** Hot actors: about the `maxCached` used last. */
  private readonly cache: HotCache<Cached>;
  private readonly maxCached: number;
  private readonly mailboxes = new Mailboxes();
  private readonly observers: Array<(c: Committed) => void> = [];
  private readonly machine: PureTransitions;
  private readonly stmt;
  readonly journal: Journal;
  private readonly inspection: InspectionReporter;
  /** The stored form of a snapshot, made by the journal when it checkpoints the actor (not at every transition). */
  private readonly persist: (live: AnyMachineSnapshot) => PersistedSnapshot;

  constructor(
    readonly def: ActorDefinition<M>,
    private readonly ctx: HostContext,
  ) {
    this.kind = def.kind;
    this.maxCached = ctx.maxCached ?? HOT_ACTORS;
    this.cache = new HotCache<Cached>(this.maxCached);
    this.machine = pureTransitions(def.machine);
    this.persist = (live) => persistedSnapshotOf(def.machine, live);
    const db = ctx.store.db;
    ctx.store.onRollback(() => this.cache.clear());
    this.journal = Journal.of(ctx.store, { clock: ctx.clock });
    // Records leave the snapshot out (format 2): this machine rebuilds those read at open.
    this.journal.replayWith(def.kind, def.version, replayerOf(def));
    this.stmt = {
      load: db.prepare('SELECT snapshot, seq, machine_version, pos FROM actors WHERE kind = ? AND id = ?'),
    };
    this.inspection = new InspectionReporter(def.kind, def.machine, this.maxCached);
    this.inspection.attach(ctx.inspect);
    // Before any message is taken: refuse to run snapshots this machine cannot run (the check reads
    // the checkpoint, so bring it up to date first).
    this.journal.checkpointSync();
    checkStoredVersions(db, def);
  }

  /** Calls `observer` after each committed transition (after its commit is durable). */
  observe(observer: (c: Committed) => void): void {
    this.observers.push(observer);
  }

  /** Attaches (or detaches) an inspector; transitions committed from now on are reported to it. */
  inspect(inspector: HostInspector | undefined): void {
    this.inspection.attach(inspector);
  }

  /** Serialises work on one actor: use it when a handler awaits between reading and writing. */
  exclusive<T>(id: string, task: () => Promise<T>): Promise<T> {
    return this.mailboxes.run(id, task);
  }

  /** The actor's current snapshot, or undefined if it was never created. */
  peek(id: string): AnyMachineSnapshot | undefined {
    return this.load(id)?.snapshot;
  }

  /** Looks up a stored reply for an inbox key without touching any actor. */
  storedReply(key: string): Reply | undefined {
    return this.journal.storedReply(key);
  }

  /**
   * Applies one event to one actor, durably. Resolves after the commit. An event the actor does
   * not accept in its state changes nothing and records nothing (and replies CONFLICT unless
   * `reply` says otherwise).
   */
  deliver(id: string, event: EventFrom<M>, opts: DeliverOptions = {}): Promise<DeliverResult> {
    let wroteEffects = false;
    let report: (() => void) | undefined;
    let committed: Committed | undefined;
    const journal = this.journal;
    return this.ctx.store.write(
      (db) => {
        if (opts.inboxKey) {
          const stored = journal.storedReply(opts.inboxKey);
          if (stored) return { duplicate: true, changed: false, reply: stored, snapshot: this.load(id)?.snapshot };
        }
        // A reply to a request no longer pending, or a timer no longer armed: already handled (or abandoned).
        const stale =
          (opts.replyTo && journal.pendingRequest(this.kind, id, opts.replyTo.slot)?.effect.messageId !== opts.replyTo.messageId) ||
          (opts.timer && journal.armedTimer(this.kind, id, opts.timer.name)?.seq !== opts.timer.seq);
        if (stale) return { duplicate: true, changed: false, reply: undefined, snapshot: this.load(id)?.snapshot };
        opts.also?.(db);
        const current = this.load(id);
        const now = this.ctx.clock.now();
        const [start, initActions]: [AnyMachineSnapshot, readonly { type: string; params?: unknown }[]] = current
          ? [current.snapshot, []]
          : this.machine.initialTransition(actorInput(this.def, id));
        const [next, actions] = this.machine.transition(start, event);
        const changed = next !== start;
        const all = [...initActions, ...actions].filter((a) => !a.type.startsWith('xstate.'));
        const t: Transitioned = { snapshot: next, previous: current?.snapshot, changed, actions: all };
        const reply = opts.reply?.(t) ?? (changed ? { data: '{}' } : rejection(event, start));
        const done: string[] = [];
        const answered = opts.replyTo ? { answered: opts.replyTo.slot } : {};
        const timers: TimerOp[] = opts.timer ? [{ name: opts.timer.name }] : [];
        if (!changed) {
          // Refused: nothing is recorded, except that an answered request or a fired timer is finished.
          if (current && (opts.replyTo || timers.length)) {
            const pos = journal.append({ kind: this.kind, id, seq: current.seq, at: now, ...answered, ...(timers.length ? { timers } : {}) }, current.pos);
            current.pos = pos;
          }
          return { duplicate: false, changed, reply, snapshot: current?.snapshot };
        }

        const seq = (current?.seq ?? 0) + 1;
        const effects: OutboundEffect[] = [];
        const fx = this.effects(id, seq, now, db, opts.cause, effects, timers, done);
        for (const action of all) this.execute(action, fx, next);
        const pos = journal.append(
          {
            kind: this.kind, id, seq, at: now, event,
            from: current ? (current.snapshot.value as StateValue) : null, to: next.value as StateValue,
            actions: all.map((a) => ({ type: a.type, params: a.params })),
            format: RECORD_FORMAT, version: this.def.version,
            ...(effects.length ? { effects } : {}),
            ...(timers.length ? { timers } : {}),
            ...(done.length ? { done } : {}),
            ...answered,
            ...(opts.inboxKey ? { inbox: { key: opts.inboxKey, reply } } : {}),
            ...(opts.cause?.id ? { messageId: opts.cause.id } : {}),
            ...(opts.cause?.causationId ? { causationId: opts.cause.causationId } : {}),
            ...(effects.length ? { source: this.ctx.source, correlationId: opts.cause?.correlationId ?? id } : {}),
          },
          current?.pos,
          { live: next, persist: this.persist },
        );
        wroteEffects = effects.length > 0 || timers.length > 0;
        this.remember(id, { snapshot: next, seq, pos });
        report = this.inspection.prepare(id, event, next, opts.cause);
        if (this.observers.length > 0) committed = { id, event, previous: current?.snapshot, next };
        return { duplicate: false, changed, reply, snapshot: next };
      },
      () => {
        if (wroteEffects) this.ctx.onEffects();
        report?.();
        if (committed) for (const o of this.observers) o(committed);
      },
    );
  }

  /** Drops hot actors (tests use it to prove cold loads work). */
  evict(id?: string): void {
    if (id) this.cache.delete(id);
    else this.cache.clear();
  }

  private remember(id: string, entry: Cached): void {
    this.cache.set(id, entry);
  }

  private load(id: string): Cached | undefined {
    const hot = this.cache.get(id);
    if (hot) return hot;
    // Changed since the last checkpoint: the journal holds it; else the checkpointed row is current.
    const latest = this.journal.latest(this.kind, id);
    if (latest?.live && latest.live.machine === this.def.machine) {
      // Changed since the checkpoint by a host of this very machine: its live snapshot, as it was
      // appended. A snapshot of another machine (a host registered again for the kind with another
      // one) is restored into this one from its persisted form, as a stored one is.
      const cached = { snapshot: latest.live, seq: latest.seq, pos: latest.pos };
      this.remember(id, cached);
      return cached;
    }
    const row = latest
      ? { persisted: latest.persisted, seq: latest.seq, machine_version: latest.version, pos: latest.pos }
      : (this.stmt.load.get(this.kind, id) as { snapshot: string; seq: number; machine_version: string; pos: number } | undefined);
    if (!row) return undefined;
    const stored = 'persisted' in row ? row.persisted : (JSON.parse(row.snapshot) as PersistedSnapshot);
    const snapshot = restore(this.def, id, { persisted: stored, version: row.machine_version });
    const cached = { snapshot, seq: row.seq, pos: row.pos };
    this.remember(id, cached);
    return cached;
  }

  private execute(action: { type: string; params?: unknown }, fx: Effects, snapshot: AnyMachineSnapshot): void {
    const executor = (this.def.executors as Record<string, Executor<unknown> | undefined>)[action.type];
    // Executors<M> makes a missing one a compile error; this catches only an action whose params
    // the machine left undeclared, against the convention HostActionsOf relies on.
    if (!executor) throw new Error(`${this.kind}: no executor for action "${action.type}" (does the machine declare its params?)`);
    executor(action.params, fx, snapshot);
  }

  private effects(
    id: string, seq: number, now: number, db: Db, cause: MessageMeta | undefined,
    effects: OutboundEffect[], timers: TimerOp[], done: string[],
  ): Effects {
    return new RecordEffects(this.journal, this.kind, id, seq, now, db, cause, effects, timers, done);
  }
}

/**
 * What one transition's executors may do, collected into its record. A class, not an object of
 * arrow functions made per transition: tsx compiles with esbuild's keepNames, which names each
 * such arrow with an `Object.defineProperty` at every call (docs/benchmarks.md, "Closures named at
 * run time"); these methods are named once.
 */
class RecordEffects implements Effects {
  /** Position of the next message within the record: part of its derived id. */
  private n = 0;
  private readonly base: string;
  /** Headers are not stored: the relay builds them from the record (journal-record.ts, effectHeaders). */
  private readonly trace: string | undefined;

  constructor(
    private readonly journal: Journal,
    private readonly kind: string,
    readonly actorId: string,
    seq: number,
    readonly now: number,
    readonly db: Db,
    readonly cause: MessageMeta | undefined,
    private readonly effects: OutboundEffect[],
    private readonly timers: TimerOp[],
    private readonly done: string[],
  ) {
    this.base = `${kind}/${actorId}/${seq}`;
    this.trace = cause?.traceparent;
  }

  request(r: OutboundRequest): void {
    const messageId = derivedMessageId(this.base, `${this.n++}/${r.slot}`);
    // A new request in a slot replaces the one pending there (journal.ts applies it so).
    this.effects.push({ messageId, mode: 'request', subject: r.subject, type: r.type, idempotencyKey: r.idempotencyKey, traceparent: childTraceparent(this.trace), data: JSON.stringify(r.payload), slot: r.slot, timeoutMs: r.timeoutMs });
  }

  publish(e: OutboundEvent): void {
    const messageId = e.messageId ?? derivedMessageId(this.base, `${this.n++}/${e.type}`);
    this.effects.push({ messageId, mode: 'publish', subject: e.subject, type: e.type, traceparent: childTraceparent(this.trace), data: JSON.stringify(e.payload) });
  }

  kvPut(bucket: string, key: string, value: unknown): void {
    const messageId = derivedMessageId(this.base, `${this.n++}/kv/${bucket}/${key}`);
    this.effects.push({ messageId, mode: 'kv', subject: `${bucket}/${key}`, data: JSON.stringify(value) });
  }

  cancelRequest(slot: string): void {
    // A request written earlier in this same transition is simply not sent; one already pending is finished.
    const i = this.effects.findIndex((e) => e.mode === 'request' && e.slot === slot);
    if (i >= 0) this.effects.splice(i, 1);
    if (this.journal.pendingRequest(this.kind, this.actorId, slot) && !this.done.includes(slot)) this.done.push(slot);
  }

  setTimer(name: string, delayMs: number, event: { type: string; [key: string]: unknown }): void {
    this.timers.push({ name, dueAt: this.now + delayMs, event });
  }

  cancelTimer(name: string): void {
    this.timers.push({ name });
  }
}

/**
 * A committed record's table writes, again: re-runs the executors of its actions (the machine
 * already chose them; they are in the record) against `db`, with the record's time and snapshot,
 * for the service's own tables only (stock, reservations, payments, the order index). Its
 * messages, KV writes and timers are in the record already and go nowhere. A store rebuilt from a
 * replicated journal (rebuild.ts) derives its tables this way; executors depend on nothing but
 * their params, the snapshot and `now`, which is what makes this exact. `after` is the snapshot
 * the record led to (a format-1 record carries it; rebuild.ts replays a format-2 one), `live` the
 * live snapshot it was persisted from, when the replay has it (saves restoring it).
 */
export function replayTableWrites(def: ActorDefinition, record: JournalRecord, db: Db, after: PersistedSnapshot | undefined = record.snapshot, live?: AnyMachineSnapshot): void {
  if (!after || !record.actions?.length) return;
  // The live snapshot a replay made (`after` persisted from it), as the host's executors get it; else restored.
  const snapshot = live ?? restore(def, record.id, { persisted: after, version: record.snapshot ? (record.version ?? def.version) : def.version });
  const none = () => undefined;
  const fx: Effects = { now: record.at, db, actorId: record.id, cause: undefined, request: none, publish: none, kvPut: none, cancelRequest: none, setTimer: none, cancelTimer: none };
  const executors = def.executors as Record<string, Executor<unknown> | undefined>;
  for (const action of record.actions) executors[action.type]?.(action.params, fx, snapshot);
}

function rejection(event: EventObject, snapshot: AnyMachineSnapshot): Reply {
  return errorReply('CONFLICT', `${event.type} is not accepted in state ${JSON.stringify(snapshot.value)}`);
}

