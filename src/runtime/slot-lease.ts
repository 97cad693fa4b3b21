/**
 * A store slot's lease (distributed mode): at most one process serves a slot, through one key of
 * the KV bucket `journal-leases` (`<service>.<slot>`), whose value names the owner.
 *
 *   acquire   the key is absent, released, or names this owner (its earlier life on this disk):
 *             a compare-and-set write (Kv.update) takes it at once. Held by another: the
 *             contender reads the key from the bucket's leader every poll; once the same revision
 *             has stood for a whole TTL on its own clock, over reads that were all answered, it
 *             takes the lease with a compare-and-set on that revision. A read or a take left
 *             unanswered (no leader: an election, or a lost node) starts the count again, so a
 *             contender never counts a time in which the owner could not have renewed either.
 *   renew     the owner rewrites its value every `renewEveryMs` with a compare-and-set on the
 *             revision it wrote last. A refusal whose latest value is not its own: the lease was
 *             taken, the owner stops serving the slot.
 *   overdue   an owner with no renewal confirmed within `ttlMs - marginMs` of SENDING it stops at
 *             once ('expired') if it is cut off from its own server: the PING it sends with each
 *             renewal (Kv.ping) went unanswered; others may be counting its TTL, as before.
 *             Otherwise the cluster, not this process, is what does not answer: it reads the key
 *             from the leader every poll: another owner named there, it stops at once ('taken');
 *             its own name, it serves on (nobody took the lease, and a take is a write the leader
 *             would show); no answer, it serves on for up to `patienceMs` from its last confirmed
 *             renewal or answered read, then stops ('expired').
 *
 * So a leases bucket without a leader for a few seconds (its leader's node lost: nats-server 2.9.10
 * elects another in 4-9 s) costs no owner its slots: no write is possible then, renewal or take,
 * and contenders count nothing until the leader answers again, when the owners' next renewals (every
 * 0.5 s) come long before a contender's TTL (2 s). It was an owner that had not renewed within
 * TTL - margin that stopped, whatever the reason: every slot of every service at once.
 *
 * What keeps two owners apart is not the lease but the journal: a new owner appends a fence marker
 * to the slot's journal before it serves (replication.ts), every append carries the subject's
 * expected last sequence and a message id made of it (nats-log.ts), so once the marker is in, the
 * old owner's next append is refused and it stops, and an append of the old owner that came first
 * makes the marker fail (the new owner rebuilds again). Nobody hears of a commit before its append
 * (replication.ts). The lease only decides who should serve: an owner whose server still answers it
 * but is cut off from the leader while others are not (a partition between nodes) may go on
 * answering reads from its store until it learns of the take or its patience runs out, and commits
 * nothing meanwhile (docs/architecture.md, "Deployment and failures").
 *
 * Nor any answer that commits nothing: a refusal, a query, a stored reply replayed. Those leave only
 * while the lease vouches for them ({@link SlotLease.answerable}): an answer computed at time `t` is
 * sent once a renewal SENT after `t - (ttlMs - marginMs)` is confirmed. A contender takes the lease
 * only after the revision that renewal wrote has stood still for a whole TTL on its own clock, so no
 * other owner can have served (let alone committed) anything before `t + marginMs`: the answer is
 * the slot's latest state at `t`. An owner cut off from the cluster but not from its clients (a
 * partition between nodes, the shoppers' node on its side at the heal) answered "cart not found" for
 * a cart the new owner had created until it heard of the take (up to `patienceMs`): now its answers
 * wait for a renewal that never comes, and its clients ask again and reach the new owner.
 *
 * Every KV call waits at most `answerWithinMs` for its answer (nats.js's default is 5 s): a
 * renewal or a read sent into a leader election is never answered, and waiting 5 s for it held the
 * next renewals back.
 */
import type { Kv, KvEntry } from './transport/transport.ts';

export interface SlotLeaseOptions {
  kv: Kv;
  /** The lease's key: `<service>.<slot>`. */
  key: string;
  /** This process's identity for the slot; stable across restarts on the same disk. */
  owner: string;
  /** How long a revision must stand still before a contender may take the lease. Default LEASE_TIMING. */
  ttlMs?: number;
  /** How often the owner renews. Default LEASE_TIMING. */
  renewEveryMs?: number;
  /** How much before the TTL the owner stops serving if it could not renew. Default LEASE_TIMING. */
  marginMs?: number;
  /** How often a contender reads the key (and an overdue owner). Default LEASE_TIMING. */
  pollEveryMs?: number;
  /** How long a KV call may wait for its answer before it counts as unanswered. Default LEASE_TIMING. */
  answerWithinMs?: number;
  /** How long an owner serves on when nothing it sends is answered. Default LEASE_TIMING. */
  patienceMs?: number;
  /** A monotonic clock in ms. Default performance.now. */
  now?: () => number;
  /** A KV call failed (it is retried). */
  onError?: (err: unknown, what: string) => void;
}

/**
 * A lease's timing. A lost owner's slot is taken 1.5-2.5 s after its loss: the TTL, less the 0-0.5 s since its last renewal, plus up to two polls (the contender's first
 * read of that revision, and the one that finds it a TTL old). The owner renews three times within
 * TTL - margin = 1.5 s of a renewal, sending each whether or not the one before was answered
 * (hold); past that it checks the leader (overdue, above). It was 3 s / 1 s: takeovers 2.2-3.4 s
 * after the kill. `patienceMs` outlasts a leases bucket's leader election (4-9 s on 2.9.10).
 */
export const LEASE_TIMING = { ttlMs: 2_000, renewEveryMs: 500, marginMs: 500, pollEveryMs: 250, answerWithinMs: 1_000, patienceMs: 12_000 } as const;

/** At most this many renewals of one lease wait for their answers at once (hold). */
const MAX_RENEWALS_IN_FLIGHT = 4;

/** Why an owner let its lease go: another process took it, or nothing it sent was answered for `patienceMs`. */
export type LeaseLoss = 'taken' | 'expired';

interface LeaseValue {
  /** '' once released. */
  owner: string;
  /** A counter per write, so that the owner recognises its own write whose acknowledgement was lost. */
  n: number;
}

const parse = (value: string): LeaseValue => {
  try {
    const v = JSON.parse(value) as Partial<LeaseValue>;
    return { owner: typeof v.owner === 'string' ? v.owner : '', n: typeof v.n === 'number' ? v.n : 0 };
  } catch {
    return { owner: '', n: 0 };
  }
};

/** The key of a slot's lease. */
export const leaseKey = (service: string, slot: string): string => `${service}.${slot.replace(/[^\w-]/g, '_')}`;

/** The lease is not held (lost, or never taken): an answer it was asked to vouch for must not leave. */
export class LeaseNotHeld extends Error {
  override readonly name = 'LeaseNotHeld';
}

/** A KV call that got no answer within `answerWithinMs` (it may still be applied). */
export class LeaseCallUnanswered extends Error {
  override readonly name = 'LeaseCallUnanswered';
}

export class SlotLease {
  readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private readonly marginMs: number;
  private readonly pollEveryMs: number;
  private readonly answerWithinMs: number;
  private readonly patienceMs: number;
  private readonly now: () => number;
  /** The revision this owner wrote last (when held). */
  private revision = 0;
  /** When the write behind `revision` was sent: an owner is overdue `ttlMs - marginMs` after it. */
  private renewedAt = 0;
  /** When the last read sent by an overdue owner went out that the leader answered with its name. */
  private affirmedAt = 0;
  /** Round trips to this process's own server, one with each renewal (the latest few). */
  private readonly pings: Array<{ at: number; answered: boolean }> = [];
  /** An overdue owner's read of the leader is on its way; when the last one was sent. */
  private checking = false;
  private checkedAt = 0;
  /** The sending time of each write not yet confirmed, by its counter. */
  private readonly unconfirmed = new Map<number, number>();
  private n = 0;
  /** As a contender: the revision last read, and when it was first read. */
  private seen: { revision: number; at: number } | undefined;
  private state: 'free' | 'held' | 'stopped' = 'free';
  private timers: NodeJS.Timeout[] = [];
  private onLost: ((why: LeaseLoss) => void) | undefined;
  /** When the overdue check last ran, and its runs' lateness beyond their interval: [when, ms late], the latest few. */
  private checkRanAt = 0;
  private readonly lateness: Array<[at: number, ms: number]> = [];
  /** Answers waiting for the lease to vouch for them (answerable): when each was computed. */
  private readonly unvouched: Array<{ at: number; resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(private readonly opts: SlotLeaseOptions) {
    this.ttlMs = opts.ttlMs ?? LEASE_TIMING.ttlMs;
    this.renewEveryMs = opts.renewEveryMs ?? LEASE_TIMING.renewEveryMs;
    this.marginMs = opts.marginMs ?? LEASE_TIMING.marginMs;
    this.pollEveryMs = opts.pollEveryMs ?? LEASE_TIMING.pollEveryMs;
    this.answerWithinMs = opts.answerWithinMs ?? LEASE_TIMING.answerWithinMs;
    this.patienceMs = opts.patienceMs ?? LEASE_TIMING.patienceMs;
    this.now = opts.now ?? (() => performance.now());
    if (this.renewEveryMs >= this.ttlMs - this.marginMs) throw new Error('a lease must be renewed more often than its TTL less the margin');
    if (this.patienceMs < this.ttlMs) throw new Error("an owner's patience must be at least its lease's TTL");
  }

  get held(): boolean {
    return this.state === 'held';
  }

  /**
   * One attempt: true if this owner holds the lease now. With `take` false (the process holds its
   * fair share already) it takes only a lease whose owner is gone (its revision stood still for a
   * TTL): a slot nobody serves is served at once by whoever sees it first, and rebalancing hands it
   * on later; a free or released key is left to a process that wants it. Either way it watches the
   * key, so that a TTL of standing still is already counted when this process wants the slot.
   * A failed KV call rejects; the caller tries again.
   */
  async tryAcquire(take = true): Promise<boolean> {
    if (this.state !== 'free') return this.state === 'held';
    try {
      const e = await this.readLeader();
      if (!e) return take && this.won(await this.write(0));
      const current = parse(e.value);
      if (current.owner === '' || current.owner === this.opts.owner) return take && this.won(await this.write(e.revision));
      if (this.seen?.revision !== e.revision) {
        this.seen = { revision: e.revision, at: this.now() };
        return false;
      }
      if (this.now() - this.seen.at < this.ttlMs) return false;
      return this.won(await this.write(e.revision));
    } catch (err) {
      // Unanswered: the owner may not have been able to renew either; count afresh once answered.
      this.seen = undefined;
      throw err;
    }
  }

  /**
   * Polls until this owner holds the lease, or `until()` says to give up (then false). While
   * `wanted()` says no (the process holds its fair share already), it takes only an orphaned
   * lease (tryAcquire).
   */
  async acquire(until: () => boolean = () => false, wanted: () => boolean = () => true): Promise<boolean> {
    for (;;) {
      if (this.state === 'stopped' || until()) return false;
      try {
        if (await this.tryAcquire(wanted())) return true;
      } catch (err) {
        this.opts.onError?.(err, `acquire ${this.opts.key}`);
      }
      await new Promise((r) => setTimeout(r, this.pollEveryMs));
    }
  }

  /**
   * An answer that commits nothing (a refusal, a query, a stored reply) computed now may leave once
   * this resolves: at once (undefined) while the last confirmed renewal was sent within
   * `ttlMs - marginMs`, the usual case (renewals go out every `renewEveryMs`); otherwise once a
   * renewal sent after now is confirmed. Rejects (LeaseNotHeld) if the lease is lost first, or not held.
   */
  answerable(): Promise<void> | undefined {
    const at = this.now();
    if (this.state === 'held' && this.vouches(at)) return undefined;
    if (this.state !== 'held') return Promise.reject(new LeaseNotHeld(`${this.opts.key}: lease not held`));
    return new Promise((resolve, reject) => this.unvouched.push({ at, resolve, reject }));
  }

  /** Whether no other owner can have taken the lease before `at` (plus the margin): see answerable. */
  private vouches(at: number): boolean {
    return at < this.renewedAt + this.ttlMs - this.marginMs;
  }

  /**
   * Keeps the lease: renews it and watches for it being overdue (above). `onLost` is called once,
   * when another process took the lease or nothing was answered for `patienceMs`: stop serving at once.
   *
   * A renewal goes out every `renewEveryMs` whether or not the one before has been answered (up to
   * MAX_RENEWALS_IN_FLIGHT at once, each given up after `answerWithinMs`): a write that fell into a
   * leader election is never answered, so an owner that waited for each answer before sending the
   * next fell behind on one lost request. Writes in flight together all expect the last confirmed
   * revision and carry the same message id: at most one is stored, and the others come back as
   * refusals that find this owner's own write (renew).
   */
  hold(onLost: (why: LeaseLoss) => void): void {
    if (this.state !== 'held') throw new Error(`${this.opts.key}: not held`);
    this.onLost = onLost;
    let inFlight = 0;
    const renew = setInterval(() => {
      if (this.state !== 'held') return;
      void this.pingServer();
      if (inFlight >= MAX_RENEWALS_IN_FLIGHT) return;
      inFlight++;
      void this.renew().finally(() => inFlight--);
    }, this.renewEveryMs);
    renew.unref();
    this.timers.push(renew);
    const every = Math.max(10, Math.min(100, this.marginMs / 4));
    this.checkRanAt = this.now();
    const check = setInterval(() => {
      const now = this.now();
      const late = now - this.checkRanAt - every;
      this.checkRanAt = now;
      if (late >= every) this.lateness.push([now, late]);
      if (this.lateness.length > 32) this.lateness.shift();
      void this.checkOverdue();
    }, every);
    check.unref();
    this.timers.push(check);
  }

  /**
   * No renewal confirmed within TTL - margin of sending it: read the key from the leader (one read
   * at a time, one a poll). Its own name: serve on. Another's: stop. No answer: serve on while
   * the last confirmed renewal or answered read is younger than `patienceMs`.
   */
  private async checkOverdue(): Promise<void> {
    if (this.state !== 'held') return;
    const now = this.now();
    if (now - this.renewedAt < this.ttlMs - this.marginMs) return;
    if (this.cutOff(now)) return this.lose('expired');
    if (now - Math.max(this.renewedAt, this.affirmedAt) >= this.patienceMs) return this.lose('expired');
    if (this.checking || now - this.checkedAt < this.pollEveryMs) return;
    this.checking = true;
    this.checkedAt = now;
    try {
      const e = await this.readLeader();
      const v = e && parse(e.value);
      if (this.state !== 'held') return;
      if (!e || !v || v.owner !== this.opts.owner) return this.lose('taken');
      this.affirmedAt = Math.max(this.affirmedAt, now);
      this.confirm(v.n, e.revision);
    } catch (err) {
      this.opts.onError?.(err, `check ${this.opts.key}`);
    } finally {
      this.checking = false;
    }
  }

  /** Sends a PING to this process's own server and notes whether it was answered in time. */
  private async pingServer(): Promise<void> {
    const ping = { at: this.now(), answered: false };
    this.pings.push(ping);
    if (this.pings.length > 8) this.pings.shift();
    try {
      await this.within(this.opts.kv.ping());
      ping.answered = true;
    } catch {
      // unanswered: cutOff() reads it
    }
  }

  /** The latest PING sent a renewal's interval ago or more is unanswered: this process, not the cluster, is cut off. */
  private cutOff(now: number): boolean {
    const ping = this.pings.findLast((p) => now - p.at >= this.renewEveryMs);
    return ping !== undefined && !ping.answered;
  }

  /**
   * How late this process's timers ran in the last `windowMs` (the overdue check's, which runs every
   * 10-100 ms while the lease is held): the longest delay beyond their interval, 0 if none was late
   * by an interval or more. A lease lost to a held event loop (a rebuild's slice, a GC, a starved
   * CPU) rather than to the cluster shows it here: the renewals could not go out in time.
   */
  stalledMs(windowMs = this.ttlMs * 2): number {
    const since = this.now() - windowMs;
    let most = 0;
    for (const [at, ms] of this.lateness) if (at >= since) most = Math.max(most, ms);
    return Math.round(most);
  }

  /** Gives the lease up for whoever comes next (a graceful stop): they need not wait for a TTL. */
  async release(): Promise<void> {
    if (this.state !== 'held') return this.stop();
    const revision = this.revision;
    this.stop();
    try {
      await this.within(this.opts.kv.update(this.opts.key, JSON.stringify({ owner: '', n: ++this.n }), revision));
    } catch (err) {
      this.opts.onError?.(err, `release ${this.opts.key}`);
    }
  }

  /** Stops renewing and polling, without writing (a crash, or a loss already handled). */
  stop(): void {
    this.state = 'stopped';
    for (const t of this.timers.splice(0)) clearTimeout(t);
    for (const w of this.unvouched.splice(0)) w.reject(new LeaseNotHeld(`${this.opts.key}: lease lost before it vouched for the answer`));
  }

  private async renew(): Promise<void> {
    let written: { n: number; revision: number | undefined };
    try {
      written = await this.write(this.revision);
      if (written.revision === undefined) {
        // Refused: either another process took the lease, or a renewal of ours landed though its
        // acknowledgement was lost or is still on its way (renewals overlap). Only our own writes
        // carry our name, and a value naming this owner is a write of this term (the counter
        // starts afresh with each lease): one not yet confirmed moves the deadline on.
        const e = await this.readLeader();
        const v = e && parse(e.value);
        if (!e || !v || v.owner !== this.opts.owner) return this.lose('taken');
        if (this.state === 'held') this.confirm(v.n, e.revision);
        return;
      }
    } catch (err) {
      this.opts.onError?.(err, `renew ${this.opts.key}`);
      return;
    }
    if (this.state === 'held') this.confirm(written.n, written.revision);
  }

  /** A compare-and-set write of this owner's value; remembers when it was sent until it is confirmed. */
  private async write(expected: number): Promise<{ n: number; revision: number | undefined }> {
    const n = ++this.n;
    this.unconfirmed.set(n, this.now());
    return { n, revision: await this.within(this.opts.kv.update(this.opts.key, JSON.stringify({ owner: this.opts.owner, n }), expected)) };
  }

  /** The key as the bucket's leader has it (a read no replica answers while nobody can write). */
  private readLeader(): Promise<KvEntry | undefined> {
    return this.within(this.opts.kv.get(this.opts.key, { fromLeader: true }));
  }

  /** `call`'s answer, or LeaseCallUnanswered after `answerWithinMs` (the call itself goes on). */
  private within<T>(call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LeaseCallUnanswered(`${this.opts.key}: no answer within ${this.answerWithinMs} ms`)), this.answerWithinMs);
    });
    return Promise.race([call, late]).finally(() => clearTimeout(timer));
  }

  private won(written: { n: number; revision: number | undefined }): boolean {
    if (written.revision === undefined || this.state !== 'free') {
      this.seen = undefined;
      return false;
    }
    this.state = 'held';
    this.confirm(written.n, written.revision);
    return true;
  }

  /**
   * Write `n` of this owner stands at `revision`: the next renewal expects it, and the self-fence
   * deadline counts from when it was sent. Answers may come back out of order (renewals overlap),
   * so a write older than one already confirmed changes nothing.
   */
  private confirm(n: number, revision: number): void {
    const sentAt = this.unconfirmed.get(n);
    if (sentAt === undefined) return;
    this.revision = Math.max(this.revision, revision);
    this.renewedAt = Math.max(this.renewedAt, sentAt);
    for (const k of this.unconfirmed.keys()) if (k <= n) this.unconfirmed.delete(k);
    if (this.unvouched.length === 0) return;
    const waiting = this.unvouched.splice(0);
    for (const w of waiting) {
      if (this.vouches(w.at)) w.resolve();
      else this.unvouched.push(w);
    }
  }

  private lose(why: LeaseLoss): void {
    if (this.state !== 'held') return;
    this.stop();
    this.onLost?.(why);
  }
}
