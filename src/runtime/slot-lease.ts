/**
 * A store slot's lease (distributed mode): at most one process serves a slot, through one key of
 * the KV bucket `journal-leases` (`<service>.<slot>`), whose value names the owner.
 *
 *   acquire   the key is absent, released, or names this owner (its earlier life on this disk):
 *             a compare-and-set write (Kv.update) takes it at once. Held by another: the
 *             contender watches the key's revision; once the same revision has stood for a whole
 *             TTL on its own clock, it takes the lease with a compare-and-set on that revision.
 *   renew     the owner rewrites its value every `renewEveryMs` with a compare-and-set on the
 *             revision it wrote last. A refusal whose latest value is not its own: the lease was
 *             taken, the owner stops serving the slot.
 *   self-fence  an owner that has not renewed within `ttlMs - marginMs` of SENDING its last
 *             successful write stops serving, whatever the network does. A contender counts its TTL
 *             from when it READ that write, which is after it was sent: so the old owner has stopped
 *             before anyone can take the lease, on clocks that only have to run at the same rate,
 *             never agree. (nats-server 2.9 has no per-key TTL; a lease that nobody renews simply
 *             stands still, and standing still for a TTL is what "expired" means here.)
 *
 * A new owner also appends a fence marker to the slot's journal (replication.ts), so that an owner
 * that somehow still writes (a paused process) is refused by the stream itself.
 *
 * Failed KV calls (a leader election, a lost node) are not fatal: the contender retries at its next
 * poll, the owner at its next renewal; only the self-fence deadline decides.
 */
import type { Kv } from './transport/transport.ts';

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
  /** How often a contender reads the key. Default LEASE_TIMING. */
  pollEveryMs?: number;
  /** A monotonic clock in ms. Default performance.now. */
  now?: () => number;
  /** A KV call failed (it is retried). */
  onError?: (err: unknown, what: string) => void;
}

/**
 * A lease's timing. A lost owner's slot is taken 1.5-2.5 s after its loss: the TTL, less the 0-0.5 s since its last renewal, plus up to two polls (the contender's first
 * read of that revision, and the one that finds it a TTL old). The owner has TTL - margin = 1.5 s
 * from sending a renewal to get one through, three renewals' worth, and sends them whether or not
 * the one before was answered (hold). It was 3 s / 1 s: takeovers 2.2-3.4 s after the kill.
 */
export const LEASE_TIMING = { ttlMs: 2_000, renewEveryMs: 500, marginMs: 500, pollEveryMs: 250 } as const;

/** At most this many renewals of one lease wait for their answers at once (hold). */
const MAX_RENEWALS_IN_FLIGHT = 4;

/** Why an owner let its lease go: another process took it, or it could not renew in time. */
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

export class SlotLease {
  readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private readonly marginMs: number;
  private readonly pollEveryMs: number;
  private readonly now: () => number;
  /** The revision this owner wrote last (when held). */
  private revision = 0;
  /** When the write behind `revision` was sent: the self-fence deadline counts from here. */
  private renewedAt = 0;
  /** The sending time of each write not yet confirmed, by its counter. */
  private readonly unconfirmed = new Map<number, number>();
  private n = 0;
  /** As a contender: the revision last read, and when it was first read. */
  private seen: { revision: number; at: number } | undefined;
  private state: 'free' | 'held' | 'stopped' = 'free';
  private timers: NodeJS.Timeout[] = [];
  private onLost: ((why: LeaseLoss) => void) | undefined;

  constructor(private readonly opts: SlotLeaseOptions) {
    this.ttlMs = opts.ttlMs ?? LEASE_TIMING.ttlMs;
    this.renewEveryMs = opts.renewEveryMs ?? LEASE_TIMING.renewEveryMs;
    this.marginMs = opts.marginMs ?? LEASE_TIMING.marginMs;
    this.pollEveryMs = opts.pollEveryMs ?? LEASE_TIMING.pollEveryMs;
    this.now = opts.now ?? (() => performance.now());
    if (this.renewEveryMs >= this.ttlMs - this.marginMs) throw new Error('a lease must be renewed more often than its TTL less the margin');
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
    const e = await this.opts.kv.get(this.opts.key);
    if (!e) return take && this.won(await this.write(0));
    const current = parse(e.value);
    if (current.owner === '' || current.owner === this.opts.owner) return take && this.won(await this.write(e.revision));
    if (this.seen?.revision !== e.revision) {
      this.seen = { revision: e.revision, at: this.now() };
      return false;
    }
    if (this.now() - this.seen.at < this.ttlMs) return false;
    return this.won(await this.write(e.revision));
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
   * Keeps the lease: renews it and watches the self-fence deadline. `onLost` is called once, when
   * another process took the lease or this one could not renew in time: stop serving at once.
   *
   * A renewal goes out every `renewEveryMs` whether or not the one before has been answered (up to
   * MAX_RENEWALS_IN_FLIGHT at once): a write that fell into a leader election waits out its whole
   * request timeout (5 s), longer than the self-fence deadline, so an owner that waited for each
   * answer before sending the next self-fenced on one lost request. Writes in flight together all
   * expect the last confirmed revision and carry the same message id: at most one is stored, and the
   * others come back as refusals that find this owner's own write (renew).
   */
  hold(onLost: (why: LeaseLoss) => void): void {
    if (this.state !== 'held') throw new Error(`${this.opts.key}: not held`);
    this.onLost = onLost;
    let inFlight = 0;
    const renew = setInterval(() => {
      if (this.state !== 'held' || inFlight >= MAX_RENEWALS_IN_FLIGHT) return;
      inFlight++;
      void this.renew().finally(() => inFlight--);
    }, this.renewEveryMs);
    renew.unref();
    this.timers.push(renew);
    const check = setInterval(() => {
      if (this.state === 'held' && this.now() - this.renewedAt >= this.ttlMs - this.marginMs) this.lose('expired');
    }, Math.max(10, Math.min(100, this.marginMs / 4)));
    check.unref();
    this.timers.push(check);
  }

  /** Gives the lease up for whoever comes next (a graceful stop): they need not wait for a TTL. */
  async release(): Promise<void> {
    if (this.state !== 'held') return this.stop();
    const revision = this.revision;
    this.stop();
    try {
      await this.opts.kv.update(this.opts.key, JSON.stringify({ owner: '', n: ++this.n }), revision);
    } catch (err) {
      this.opts.onError?.(err, `release ${this.opts.key}`);
    }
  }

  /** Stops renewing and polling, without writing (a crash, or a loss already handled). */
  stop(): void {
    this.state = 'stopped';
    for (const t of this.timers.splice(0)) clearTimeout(t);
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
        const e = await this.opts.kv.get(this.opts.key);
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
    return { n, revision: await this.opts.kv.update(this.opts.key, JSON.stringify({ owner: this.opts.owner, n }), expected) };
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
  }

  private lose(why: LeaseLoss): void {
    if (this.state !== 'held') return;
    this.stop();
    this.onLost?.(why);
  }
}
