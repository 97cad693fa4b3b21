/**
 * One durable consumer of the in-process transport, shared by every `consume()` with the same
 * (stream, durable), the way several pullers share a NATS durable.
 *
 * Deliveries go out in stream order, at most `maxAckPending` unacked at a time, round-robin over the
 * members. A delivery not acked within `ackWaitMs` is redelivered; a nak redelivers after its delay.
 * A delivery whose handler is still running is not: its ack wait starts again, as the NATS
 * transport's progress acks make the server do, so only a handler that is gone (or stuck past
 * MAX_HOLD_MS) loses its message.
 * Only acks are persisted (an ack floor plus the acks above it), and the highest sequence ever
 * delivered, so that after a restart everything unacked comes again, flagged as redelivered if it had
 * gone out before. The exact delivery count is not persisted: after a restart it restarts at 2.
 *
 * A **held** message (`hold`, embedded: in-process.ts) is not in the store at all: its publisher
 * holds it, in its own journal, until this group acks it, and the promise `hold` returns settles
 * then. It is delivered, redelivered and nak'ed like a stored one, after the stored ones, and its ack
 * writes nothing. When the group's last member leaves (or the transport closes) the held messages
 * are given back: their promises reject, and the publisher sends them again later.
 */
import { MAX_HOLD_MS, retryDelayOf } from '../consumer-policy.ts';
import { InFlight } from '../in-flight.ts';
import type { BusStore, StoredMsg } from './bus-store.ts';
import { subjectMatches } from './subject-match.ts';
import type { Delivery, EventHandler } from '../transport.ts';
import { TransportClosedError } from '../errors.ts';

export interface DurableConfig {
  filter: string | undefined;
  ackWaitMs: number;
  maxAckPending: number;
}

export interface Member {
  readonly handler: EventHandler;
  readonly inflight: InFlight;
  /** It must be the only member (ConsumeOptions.exclusive). */
  readonly exclusive: boolean;
  active: boolean;
}

interface Entry {
  msg: StoredMsg;
  /** Deliveries so far; identifies the current attempt, so stale naks and timers are ignored. */
  count: number;
  timer: NodeJS.Timeout | undefined;
  queued: boolean;
  /** The attempt whose handler is running, if any, and since when. */
  running?: number | undefined;
  runningSince?: number;
  /** A held message (not stored): how its publisher hears of the ack, or of its return. */
  held?: { acked: () => void; returned: (err: Error) => void } | undefined;
}

const FETCH_BATCH = 256;

export class DurableGroup {
  private readonly members: Member[] = [];
  private rr = 0;
  /** Delivered and unacked. Insertion order is stream order: entries are added on first delivery only. */
  private readonly pending = new Map<number, Entry>();
  private readonly ready: Entry[] = [];
  /** Read from the store, matching the filter, not yet delivered. */
  private buffer: StoredMsg[] = [];
  private bufIdx = 0;
  private cursor: number;
  private ackFloor: number;
  private deliveredSeq: number;
  private readonly ackedAbove: Set<number>;
  /** Held messages not yet delivered, in publication order. */
  private heldQueue: Entry[] = [];
  /** Held messages delivered and unacked. */
  private readonly heldPending = new Set<Entry>();
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly store: BusStore,
    readonly stream: string,
    readonly durable: string,
    private cfg: DurableConfig,
    private readonly track: (p: Promise<unknown>) => void,
    private readonly onError: (err: unknown, context: string) => void,
  ) {
    const state = store.openConsumer(stream, durable);
    this.ackFloor = state.ackFloor;
    this.cursor = state.ackFloor;
    this.deliveredSeq = state.deliveredSeq;
    this.ackedAbove = state.ackedAbove;
  }

  /** The latest `consume()` call's settings win, like a NATS consumer update. */
  configure(cfg: DurableConfig): void {
    this.cfg = cfg;
  }

  /** Whether a new member, exclusive or not, would share the durable with an exclusive one. */
  refuses(exclusive: boolean): boolean {
    return this.members.length > 0 && (exclusive || this.members.some((m) => m.exclusive));
  }

  addMember(handler: EventHandler, exclusive = false): Member {
    if (this.refuses(exclusive)) throw new ExclusiveConsumerTaken(this.durable);
    const m: Member = { handler, inflight: new InFlight(), exclusive, active: true };
    this.members.push(m);
    this.schedule();
    return m;
  }

  /**
   * Stops giving the member work and waits for what it has; its unacked deliveries stay pending.
   * If it was the last member, the held messages go back to their publishers.
   */
  async removeMember(m: Member): Promise<void> {
    m.active = false;
    const i = this.members.indexOf(m);
    if (i >= 0) this.members.splice(i, 1);
    await m.inflight.settled();
    if (this.members.length === 0) this.returnHeld(new ConsumerGone(this.durable));
  }

  /** Whether some member is consuming: a held message would be delivered. */
  get consuming(): boolean {
    return this.members.length > 0 && !this.stopped;
  }

  /** Whether a message of `subject` is for this consumer. */
  reads(subject: string): boolean {
    return this.cfg.filter === undefined || subjectMatches(this.cfg.filter, subject);
  }

  /**
   * Delivers a message that is not stored, after the stored ones; resolves when it is acked, and
   * rejects if it is given back unacked (the last member left, the transport closed).
   */
  hold(msg: Omit<StoredMsg, 'seq'>): Promise<void> {
    return new Promise<void>((acked, returned) => {
      if (!this.consuming) {
        returned(new ConsumerGone(this.durable));
        return;
      }
      this.heldQueue.push({ msg: { ...msg, seq: 0 }, count: 0, timer: undefined, queued: false, held: { acked, returned } });
      this.schedule();
    });
  }

  private returnHeld(err: Error): void {
    const entries = [...this.heldQueue, ...this.heldPending];
    this.heldQueue = [];
    this.heldPending.clear();
    for (const e of entries) {
      clearTimeout(e.timer);
      e.held?.returned(err);
    }
  }

  private isPending(e: Entry): boolean {
    return e.held ? this.heldPending.has(e) : this.pending.get(e.msg.seq) === e;
  }

  /** The stream has a new message. */
  notify(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.pending.values()) clearTimeout(e.timer);
    this.returnHeld(new TransportClosedError());
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.pump();
      } catch (err) {
        this.onError(err, `consumer ${this.durable}`);
      }
    });
  }

  private pump(): void {
    if (this.stopped) return;
    let delivered = this.deliveredSeq;
    while (this.members.length > 0) {
      let e = this.ready.shift();
      if (e) {
        e.queued = false;
        if (!this.isPending(e)) continue; // acked (or given back) meanwhile
      } else {
        if (this.pending.size + this.heldPending.size >= this.cfg.maxAckPending) break;
        const msg = this.nextNew();
        if (msg) {
          // Sent before a restart if at or below the persisted high-water mark.
          e = { msg, count: msg.seq <= this.deliveredSeq ? 1 : 0, timer: undefined, queued: false };
          this.pending.set(msg.seq, e);
          delivered = Math.max(delivered, msg.seq);
        } else {
          e = this.heldQueue.shift();
          if (!e) break;
          this.heldPending.add(e);
        }
      }
      const member = this.members[this.rr++ % this.members.length]!;
      this.dispatch(e, member);
    }
    if (delivered > this.deliveredSeq) {
      this.deliveredSeq = delivered;
      this.store.setDelivered(this.stream, this.durable, delivered);
    }
  }

  private nextNew(): StoredMsg | undefined {
    for (;;) {
      const next = this.buffer[this.bufIdx];
      if (next) {
        this.bufIdx++;
        return next;
      }
      const { filter } = this.cfg;
      const { msgs, lastSeq } = this.store.msgsAfter(
        this.stream,
        this.cursor,
        FETCH_BATCH,
        (subject, seq) => (filter === undefined || subjectMatches(filter, subject)) && !this.ackedAbove.has(seq),
      );
      if (lastSeq === undefined) return undefined;
      this.cursor = lastSeq;
      this.buffer = msgs;
      this.bufIdx = 0;
    }
  }

  private dispatch(e: Entry, member: Member): void {
    const attempt = ++e.count;
    clearTimeout(e.timer);
    e.timer = setTimeout(() => this.expire(e, attempt), this.cfg.ackWaitMs);
    e.timer.unref();
    const d: Delivery = {
      subject: e.msg.subject,
      headers: { ...e.msg.headers },
      data: e.msg.data,
      seq: e.msg.seq,
      deliveryCount: attempt,
      redelivered: attempt > 1,
    };
    e.running = attempt;
    e.runningSince = Date.now();
    const p = Promise.resolve()
      .then(() => member.handler(d))
      .finally(() => {
        if (e.running === attempt) e.running = undefined;
      })
      .then(
        () => this.ack(e),
        (err: unknown) => this.nak(e, attempt, retryDelayOf(err)),
      )
      .catch((err: unknown) => this.onError(err, `ack/nak for ${this.durable}`));
    member.inflight.track(p);
    this.track(p);
  }

  private expire(e: Entry, attempt: number): void {
    if (!this.isPending(e) || e.count !== attempt) return;
    if (e.running === attempt && !this.stopped && Date.now() - (e.runningSince ?? 0) < MAX_HOLD_MS) {
      e.timer = setTimeout(() => this.expire(e, attempt), this.cfg.ackWaitMs);
      e.timer.unref();
      return;
    }
    e.timer = undefined;
    this.enqueue(e);
  }

  private enqueue(e: Entry): void {
    if (e.queued || this.stopped) return;
    e.queued = true;
    this.ready.push(e);
    this.schedule();
  }

  /** Any attempt's ack counts, even a late one after a redelivery went out, as on NATS. */
  private ack(e: Entry): void {
    if (e.held) {
      if (!this.heldPending.delete(e)) return;
      clearTimeout(e.timer);
      e.held.acked();
      this.schedule();
      return;
    }
    const seq = e.msg.seq;
    if (this.pending.get(seq) !== e) return;
    clearTimeout(e.timer);
    this.pending.delete(seq);
    const firstPending = this.pending.keys().next().value;
    const firstBuffered = this.buffer[this.bufIdx]?.seq;
    const floor = Math.min(firstPending ?? Infinity, firstBuffered ?? Infinity, this.cursor + 1) - 1;
    const moved = floor > this.ackFloor ? floor : undefined;
    this.store.ack(this.stream, this.durable, seq, moved);
    if (moved !== undefined) this.ackFloor = moved;
    this.schedule();
  }

  /** Only the current attempt may nak; an older attempt failing late changes nothing. */
  private nak(e: Entry, attempt: number, delayMs: number): void {
    if (!this.isPending(e) || e.count !== attempt) return;
    clearTimeout(e.timer);
    e.timer = undefined;
    if (delayMs <= 0) {
      this.enqueue(e);
      return;
    }
    e.timer = setTimeout(() => {
      e.timer = undefined;
      this.enqueue(e);
    }, delayMs);
    e.timer.unref();
  }
}

/**
 * A consumer that would share its durable with one that must be its only member: embedded, a second
 * orchestrator on the bus of the sole one, which claims no saga and would have both start it.
 */
export class ExclusiveConsumerTaken extends Error {
  override readonly name = 'ExclusiveConsumerTaken';
  constructor(durable: string) {
    super(`consumer ${durable} has a member that must be its only one: a second consumer of it is refused`);
  }
}

/** A held message given back because its consumer has no member left: its publisher sends it again. */
export class ConsumerGone extends Error {
  override readonly name = 'ConsumerGone';
  constructor(durable: string) {
    super(`consumer ${durable} has no member to take a held message`);
  }
}
