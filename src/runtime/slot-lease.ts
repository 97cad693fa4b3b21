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
  /** How long a revision must stand still before a contender may take the lease. Default 3 s. */
  ttlMs?: number;
  /** How often the owner renews. Default 1 s. */
  renewEveryMs?: number;
  /** How much before the TTL the owner stops serving if it could not renew. Default 0.5 s. */
  marginMs?: number;
  /** How often a contender reads the key. Default 0.25 s. */
  pollEveryMs?: number;
  /** A monotonic clock in ms. Default performance.now. */
  now?: () => number;
  /** A KV call failed (it is retried). */
  onError?: (err: unknown, what: string) => void;
}

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
    this.ttlMs = opts.ttlMs ?? 3_000;
    this.renewEveryMs = opts.renewEveryMs ?? 1_000;
    this.marginMs = opts.marginMs ?? 500;
    this.pollEveryMs = opts.pollEveryMs ?? 250;
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
    const sentAt = this.now();
    const e = await this.opts.kv.get(this.opts.key);
    if (!e) return take && this.won(sentAt, await this.write(0));
    const current = parse(e.value);
    if (current.owner === '' || current.owner === this.opts.owner) return take && this.won(sentAt, await this.write(e.revision));
    if (this.seen?.revision !== e.revision) {
      this.seen = { revision: e.revision, at: this.now() };
      return false;
    }
    if (this.now() - this.seen.at < this.ttlMs) return false;
    return this.won(sentAt, await this.write(e.revision));
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
   */
  hold(onLost: (why: LeaseLoss) => void): void {
    if (this.state !== 'held') throw new Error(`${this.opts.key}: not held`);
    this.onLost = onLost;
    const renew = async (): Promise<void> => {
      while (this.state === 'held') {
        await new Promise((r) => this.timers.push(setTimeout(r, this.renewEveryMs)));
        if (this.state !== 'held') return;
        await this.renew();
      }
    };
    void renew();
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
    const sentAt = this.now();
    let revision: number | undefined;
    try {
      revision = await this.write(this.revision);
      if (revision === undefined) {
        // Refused: either another process took the lease, or an earlier renewal of ours landed
        // though its acknowledgement was lost. Only our own writes carry our name.
        const e = await this.opts.kv.get(this.opts.key);
        const v = e && parse(e.value);
        const at = v && v.owner === this.opts.owner ? this.unconfirmed.get(v.n) : undefined;
        if (e && at !== undefined) this.confirm(e.revision, at);
        else this.lose('taken');
        return;
      }
    } catch (err) {
      this.opts.onError?.(err, `renew ${this.opts.key}`);
      return;
    }
    if (this.state === 'held') this.confirm(revision, sentAt);
  }

  /** A compare-and-set write of this owner's value; remembers when it was sent until it is confirmed. */
  private async write(expected: number): Promise<number | undefined> {
    const n = ++this.n;
    this.unconfirmed.set(n, this.now());
    return this.opts.kv.update(this.opts.key, JSON.stringify({ owner: this.opts.owner, n }), expected);
  }

  private won(sentAt: number, revision: number | undefined): boolean {
    if (revision === undefined || this.state !== 'free') {
      this.seen = undefined;
      return false;
    }
    this.state = 'held';
    this.confirm(revision, sentAt);
    return true;
  }

  private confirm(revision: number, sentAt: number): void {
    this.revision = revision;
    this.renewedAt = Math.max(this.renewedAt, sentAt);
    this.unconfirmed.clear();
  }

  private lose(why: LeaseLoss): void {
    if (this.state !== 'held') return;
    this.stop();
    this.onLost?.(why);
  }
}
