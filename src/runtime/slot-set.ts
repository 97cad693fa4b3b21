/**
 * A fixed set of slots of one service (the orchestrator's CHECKOUT_SLOTS: `slot-0` ...), each its
 * own store and journal, shared by the service's processes under leases (leased-slot.ts). Each
 * process takes its fair share, ceil(slots / live processes); adopts slots whose owner is gone
 * (the lease stood still a TTL), rebuilding them from the replicated journal, even beyond its share
 * (a slot nobody serves is served first, shared fairly later: a fresh process started in the lost
 * one's place would count its TTL from its own start, seconds later); and hands a slot over (stops
 * it gracefully, releases the lease) while it holds more than its share, as when a process joins.
 * A lost process's work (its disk gone) thus finishes elsewhere.
 *
 * Who is live: each process also holds a member lease `<service>.member-<i>` (i below the number
 * of slots: a process beyond that would have nothing to do), renewed like a slot's. A member key
 * whose revision has not moved for a TTL belongs to a process that is gone.
 */
import { LeasedSlot, type OpenPhases } from './leased-slot.ts';
import type { AnswerGate, Logger, ServiceRuntime } from './service.ts';
import { LEASE_TIMING, leaseKey, SlotLease, type SlotLeaseOptions } from './slot-lease.ts';
import type { Kv } from './transport/transport.ts';

export interface SlotSetOptions {
  kv: Kv;
  service: string;
  /** How many slots the service has. */
  count: number;
  /** This process's name as an owner (slot-owner on its disk). */
  owner: string;
  /** Opens slot `k` and starts serving it (`phases`: what the opening took, leased-slot.ts). */
  serve(k: number, phases: OpenPhases, gate: AnswerGate): Promise<ServiceRuntime>;
  onServing?(k: number, rt: ServiceRuntime | undefined): void;
  log: Logger;
  lease?: Partial<Omit<SlotLeaseOptions, 'kv' | 'key' | 'owner'>>;
  /** How often membership is read and the share checked. Default 0.5 s. */
  checkEveryMs?: number;
}

export const slotName = (k: number): string => `slot-${k}`;

export class SlotSet {
  readonly slots: LeasedSlot[];
  private member: SlotLease | undefined;
  private memberSince = 0;
  private readonly seen = new Map<number, { revision: number; at: number }>();
  private live = 1;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastHandOver = 0;
  /** Since when this process has held more than its share (undefined: it does not). */
  private overSince: number | undefined;
  private readonly ttlMs: number;

  constructor(private readonly opts: SlotSetOptions) {
    this.ttlMs = opts.lease?.ttlMs ?? LEASE_TIMING.ttlMs;
    const onError = (err: unknown, what: string) => opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, `${what}: retrying`);
    this.slots = Array.from({ length: opts.count }, (_, k) => {
      const key = leaseKey(opts.service, slotName(k));
      return new LeasedSlot({
        name: key,
        lease: () => new SlotLease({ kv: opts.kv, key, owner: opts.owner, onError, ...opts.lease }),
        serve: (phases, gate) => opts.serve(k, phases, gate),
        onServing: (rt) => opts.onServing?.(k, rt),
        log: opts.log,
        wanted: () => this.held() < this.share(),
      });
    });
  }

  /** Slots whose lease this process holds. */
  held(): number {
    return this.slots.filter((s) => s.holds).length;
  }

  /** This process's fair share: the slots over the live processes, rounded up. */
  share(): number {
    return Math.ceil(this.opts.count / Math.max(1, this.live));
  }

  /** Joins: takes a member lease, reads who else is live, then contends for its share (waiting up to `waitMs` for it). */
  async start(waitMs: number): Promise<void> {
    void this.join();
    await this.readMembers().catch(() => undefined);
    this.timer = setInterval(() => void this.check(), this.opts.checkEveryMs ?? 500);
    this.timer.unref();
    await Promise.all(this.slots.map((s) => s.start(waitMs)));
  }

  /** Takes the first member index that is free, released, its own, or expired; holds it; rejoins if it is lost. */
  private async join(): Promise<void> {
    const candidates = Array.from({ length: this.opts.count }, (_, i) => new SlotLease({ kv: this.opts.kv, key: leaseKey(this.opts.service, `member-${i}`), owner: this.opts.owner, ...this.opts.lease }));
    while (!this.stopped) {
      for (const lease of candidates) {
        if (!(await lease.tryAcquire().catch(() => false))) continue;
        if (this.stopped) return lease.release();
        this.member = lease;
        this.memberSince = performance.now();
        lease.hold(() => {
          this.member = undefined;
          void this.join();
        });
        return;
      }
      await new Promise((r) => setTimeout(r, this.opts.lease?.pollEveryMs ?? LEASE_TIMING.pollEveryMs));
    }
  }

  /** Counts live members: a key with an owner whose revision moved within a TTL. */
  private async readMembers(): Promise<void> {
    const now = performance.now();
    let live = 0;
    for (let i = 0; i < this.opts.count; i++) {
      const e = await this.opts.kv.get(leaseKey(this.opts.service, `member-${i}`));
      if (!e || !(JSON.parse(e.value) as { owner?: string }).owner) continue;
      const s = this.seen.get(i);
      if (!s || s.revision !== e.revision) this.seen.set(i, { revision: e.revision, at: now });
      if (now - (this.seen.get(i)?.at ?? now) < this.ttlMs) live++;
    }
    this.live = live + (this.member ? 0 : 1);
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.readMembers();
    } catch (err) {
      this.opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'reading slot members failed; retrying');
      return;
    }
    // Over its share (a process joined): hand one slot over, at most one a TTL, once settled in, and
    // only once it has been over its share for a whole TTL. A process that adopts a lost one's slots
    // is over its share for up to a TTL, until the lost one's member key has stood still long enough
    // to count it gone: handing a slot over then took a slot it served away for the 3-4 s of a
    // stop and a reopening, in the middle of the takeover (the cluster test, 2026-12-06 23:47).
    const now = performance.now();
    if (!this.member || now - this.memberSince <= this.ttlMs || this.held() <= this.share()) {
      this.overSince = undefined;
      return;
    }
    this.overSince ??= now;
    if (now - this.overSince >= this.ttlMs && now - this.lastHandOver > this.ttlMs) {
      const slot = this.slots.findLast((s) => s.runtime !== undefined);
      if (!slot) return;
      this.lastHandOver = now;
      this.opts.log.info({ held: this.held(), share: this.share(), live: this.live }, 'handing a slot over to rebalance');
      await slot.handOver();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const s of this.slots) await s.stop();
    await this.member?.release();
  }

  kill(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const s of this.slots) s.kill();
    this.member?.stop();
  }
}
