/**
 * Slot leases (src/runtime/slot-lease.ts) on every transport whose Kv they run on: the in-process
 * bus, the bus over MessagePorts, and a real nats-server as a service's own user. Short TTLs keep
 * the cases quick; the rules are the same at any scale.
 *
 * The same cases for each transport, one file each (tests/int/slot-lease.*.test.ts): the cases
 * sleep through TTLs and barely compute, so the three files run at once, in a group of their own
 * after the fault tests (vitest.config.ts), instead of one after the other in one file.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bucket } from '../../src/contracts/subjects.ts';
import { SlotLease, type LeaseLoss, type SlotLeaseOptions } from '../../src/runtime/slot-lease.ts';
import type { GetOptions, Kv } from '../../src/runtime/transport/transport.ts';
import { sleep, until } from './waiting.ts';
import type { World, WorldFactory } from './transport-worlds.ts';

const TTL = 800;
const timing = { ttlMs: TTL, renewEveryMs: 150, marginMs: 200, pollEveryMs: 40, answerWithinMs: 300, patienceMs: 3 * TTL } as const;
const KEY = 'inventory.0';

/**
 * A bucket without a leader (an election), as every client sees it: writes and reads from the
 * leader go unanswered; plain reads are still answered (by any replica, as NATS's direct gets are).
 */
class Outage {
  private gate: Promise<void> | undefined;
  private open: () => void = () => undefined;
  begin(): void {
    this.gate = new Promise<void>((r) => (this.open = r));
  }
  end(): void {
    this.gate = undefined;
    this.open();
  }
  /** Waits out the outage; a call made during it is never answered (its client gave up on it). */
  async pass(): Promise<void> {
    if (this.gate) await new Promise<never>(() => undefined);
  }
}

/** A Kv whose writes can be held back (a partitioned owner) or applied with the answer lost, in a bucket that may lose its leader. */
function flakyKv(kv: Kv, outage = new Outage()) {
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  let cut = false;
  let loseNextAnswer = false;
  let dropNext = false;
  let delayNext = 0;
  return {
    kv: {
      get: async (key: string, opts?: GetOptions) => {
        if (opts?.fromLeader) await outage.pass();
        return kv.get(key, opts);
      },
      ping: async () => {
        if (cut) await new Promise<never>(() => undefined);
        return kv.ping();
      },
      put: (key: string, value: string) => kv.put(key, value),
      create: (key: string, value: string) => kv.create(key, value),
      watch: kv.watch.bind(kv),
      update: async (key: string, value: string, revision: number) => {
        await outage.pass();
        if (gate) await gate;
        if (dropNext) {
          // Lost on its way (a request sent into a leader election): never applied, never answered.
          dropNext = false;
          return new Promise<number | undefined>(() => undefined);
        }
        const delay = delayNext;
        delayNext = 0;
        const r = await kv.update(key, value, revision);
        if (delay > 0) await sleep(delay);
        if (loseNextAnswer) {
          loseNextAnswer = false;
          throw new Error('timed out (the write landed)');
        }
        return r;
      },
    } satisfies Kv,
    partition: () => void (gate = new Promise<void>((r) => (open = r))),
    heal: () => {
      gate = undefined;
      open();
    },
    /** This process is cut off from its server: nothing it sends from now on is answered (writes are held as by partition()). */
    cut: () => {
      cut = true;
      gate = new Promise<void>((r) => (open = r));
    },
    loseNextAnswer: () => void (loseNextAnswer = true),
    dropNext: () => void (dropNext = true),
    /** The next write is applied, its answer comes `ms` later (after later writes' answers). */
    delayNextAnswer: (ms: number) => void (delayNext = ms),
  };
}

/** Every slot-lease case, on the transport `factory` opens. */
export function slotLeaseCases(factory: WorldFactory): void {
  describe(`slot leases: ${factory.name}`, () => {
    let world: World;
    const started: SlotLease[] = [];
    const lease = async (owner: string, opts: Partial<SlotLeaseOptions> = {}) => {
      const kv = opts.kv ?? (await (await world.as('inventory')).kv(Bucket.journalLeases));
      const l = new SlotLease({ kv, key: KEY, owner, ...timing, ...opts });
      started.push(l);
      return l;
    };
    /** `owner` takes the lease through `kv` and holds it; `loss` tells when and why it let go. */
    const heldBy = async (owner: string, kv: Kv) => {
      const a = await lease(owner, { kv });
      expect(await a.tryAcquire()).toBe(true);
      const loss: { at: number; why?: LeaseLoss } = { at: 0 };
      a.hold((why) => Object.assign(loss, { at: performance.now(), why }));
      return { a, loss };
    };
    beforeEach(async () => {
      world = await factory.world();
    });
    afterEach(async () => {
      for (const l of started.splice(0)) l.stop();
      await world.close();
    });

    it('one owner at a time: a contender cannot take a lease its owner renews', async () => {
      const a = await lease('a');
      const b = await lease('b');
      expect(await a.tryAcquire()).toBe(true);
      const lost: LeaseLoss[] = [];
      a.hold((why) => lost.push(why));
      const deadline = Date.now() + 2 * TTL;
      while (Date.now() < deadline) {
        expect(await b.tryAcquire()).toBe(false);
        await sleep(40);
      }
      expect(lost).toEqual([]);
      expect(a.held).toBe(true);
    });

    it("an owner says how late its timers ran (stalledMs): little on a free event loop, the hold's length once the loop was held", async () => {
      const { a } = await heldBy('a', await (await world.as('inventory')).kv(Bucket.journalLeases));
      await sleep(300);
      // A loaded machine (the whole suite at once) may run a timer a little late; not by the hold below.
      expect(a.stalledMs()).toBeLessThan(300);
      // The loop held (a long slice of work, a starved CPU): no timer of this process runs meanwhile.
      const until = performance.now() + 600;
      while (performance.now() < until);
      await sleep(150);
      expect(a.stalledMs()).toBeGreaterThanOrEqual(450);
      expect(a.stalledMs()).toBeLessThan(1_000);
    });

    it('expiry: once the owner stops renewing (a crash), a contender takes it after one TTL of seeing it stand still, not before', async () => {
      const a = await lease('a');
      expect(await a.tryAcquire()).toBe(true);
      a.stop();
      const b = await lease('b');
      const from = performance.now();
      expect(await b.acquire()).toBe(true);
      const waited = performance.now() - from;
      expect(waited).toBeGreaterThanOrEqual(TTL);
      expect(waited).toBeLessThan(TTL + 1_500);
    });

    it('a released lease is taken at once; the same owner on the same disk retakes its own at once', async () => {
      const a = await lease('a');
      expect(await a.tryAcquire()).toBe(true);
      a.hold(() => undefined);
      await a.release();
      const b = await lease('b');
      expect(await b.tryAcquire()).toBe(true);
      b.stop();
      // b crashed and restarts under the same name: its lease is still its own.
      const b2 = await lease('b');
      expect(await b2.tryAcquire()).toBe(true);
    });

    it('a partitioned owner (its writes lost, the leader still answering its reads) lets go within a poll of the lease being taken, and its late renewal is refused', async () => {
      const flaky = flakyKv(await (await world.as('inventory')).kv(Bucket.journalLeases));
      const { a, loss } = await heldBy('a', flaky.kv);
      flaky.partition();
      const b = await lease('b');
      expect(await b.acquire()).toBe(true);
      const tookAt = performance.now();
      b.hold(() => undefined);
      await until(() => loss.why !== undefined, 2_000);
      expect(loss.why).toBe('taken');
      // The overdue owner reads the leader every poll; the new owner has yet to open the slot and
      // fence its journal (replication.ts), which is what stops the old one's appends.
      expect(loss.at - tookAt).toBeLessThan(timing.pollEveryMs + timing.answerWithinMs);
      // The partition heals: the old owner's write in flight is refused, the new owner keeps it.
      flaky.heal();
      await sleep(2 * timing.renewEveryMs);
      expect(b.held).toBe(true);
      expect(a.held).toBe(false);
      expect(JSON.parse((await flaky.kv.get(KEY))!.value)).toMatchObject({ owner: 'b' });
    });

    it('an owner cut off from the leader but not from its server (a partition between nodes) vouches for no answer from TTL - margin after its last confirmed renewal, nor for any it withheld once the lease is taken', async () => {
      const flaky = flakyKv(await (await world.as('inventory')).kv(Bucket.journalLeases));
      const { a, loss } = await heldBy('a', flaky.kv);
      expect(a.answerable()).toBeUndefined();
      flaky.partition();
      const partitionedAt = performance.now();
      // An answer computed every 20 ms (a reply, a refusal, a query): vouched for at once, or withheld.
      let lastVouchedAt = 0;
      const withheld: Array<{ at: number; outcome?: 'vouched' | 'refused' }> = [];
      const asking = setInterval(() => {
        const at = performance.now();
        const gate = a.answerable();
        if (gate === undefined) {
          lastVouchedAt = at;
          return;
        }
        const w: { at: number; outcome?: 'vouched' | 'refused' } = { at };
        withheld.push(w);
        gate.then(
          () => (w.outcome = 'vouched'),
          () => (w.outcome = 'refused'),
        );
      }, 20);
      const b = await lease('b');
      expect(await b.acquire()).toBe(true);
      const tookAt = performance.now();
      b.hold(() => undefined);
      await until(() => loss.why !== undefined, 2_000);
      clearInterval(asking);
      await sleep(10);
      expect(loss.why).toBe('taken');
      // Nothing vouched for within the margin before the take (the margin covers clocks that run at different rates).
      expect(tookAt - lastVouchedAt).toBeGreaterThan(timing.marginMs);
      expect(lastVouchedAt - partitionedAt).toBeLessThan(TTL - timing.marginMs + 50);
      expect(withheld.length).toBeGreaterThan(5);
      expect(withheld.filter((w) => w.outcome !== 'refused')).toEqual([]);
      await expect(a.answerable()).rejects.toThrow('lease not held');
      flaky.heal();
    });

    it('an answer withheld while the renewals go unanswered is vouched for once a renewal sent after it is confirmed', async () => {
      const flaky = flakyKv(await (await world.as('inventory')).kv(Bucket.journalLeases));
      const { a, loss } = await heldBy('a', flaky.kv);
      flaky.partition();
      await sleep(TTL - timing.marginMs + 100);
      const gate = a.answerable();
      expect(gate).toBeInstanceOf(Promise);
      let vouchedAt = 0;
      void gate!.then(() => (vouchedAt = performance.now()));
      await sleep(100);
      expect(vouchedAt).toBe(0);
      const healedAt = performance.now();
      flaky.heal();
      await until(() => vouchedAt > 0, 2_000);
      expect(vouchedAt - healedAt).toBeLessThan(2 * timing.renewEveryMs + timing.answerWithinMs);
      expect(loss.why).toBeUndefined();
      // The renewals sent after the heal bring the lease back to vouching at once.
      await until(() => a.answerable() === undefined, 2_000);
    });

    it('an owner cut off from its own server (its PINGs unanswered too) stops within TTL - margin of its last renewal, before anyone can take its lease', async () => {
      const flaky = flakyKv(await (await world.as('inventory')).kv(Bucket.journalLeases));
      const { a, loss } = await heldBy('a', flaky.kv);
      const cutAt = performance.now();
      flaky.cut();
      const b = await lease('b');
      expect(await b.acquire()).toBe(true);
      const tookAt = performance.now();
      expect(loss.why).toBe('expired');
      expect(loss.at).toBeLessThan(tookAt);
      expect(loss.at - cutAt).toBeLessThan(TTL - timing.marginMs + 100);
      expect(a.held).toBe(false);
    });

    it('a leases bucket without a leader for longer than a TTL (an election) costs its owner nothing: a contender counts no TTL while unanswered, and the owner renews first after', async () => {
      const kv = await (await world.as('inventory')).kv(Bucket.journalLeases);
      const outage = new Outage();
      const a = await lease('a', { kv: flakyKv(kv, outage).kv });
      expect(await a.tryAcquire()).toBe(true);
      const lost: LeaseLoss[] = [];
      a.hold((w) => lost.push(w));
      const b = await lease('b', { kv: flakyKv(kv, outage).kv });
      let took = false;
      void b.acquire().then((t) => (took = t));
      await sleep(TTL / 2);
      outage.begin();
      await sleep(2.5 * TTL);
      expect(lost).toEqual([]);
      expect(a.held).toBe(true);
      outage.end();
      await sleep(2 * TTL);
      expect({ lost, aHeld: a.held, bTook: took }).toEqual({ lost: [], aHeld: true, bTook: false });
      b.stop();
    });

    it('an owner that nothing answers for its whole patience (a leader that never comes back) lets go: expired', async () => {
      const outage = new Outage();
      const { loss } = await heldBy('a', flakyKv(await (await world.as('inventory')).kv(Bucket.journalLeases), outage).kv);
      const from = performance.now();
      outage.begin();
      await until(() => loss.why !== undefined, 2 * timing.patienceMs);
      expect(loss.why).toBe('expired');
      expect(loss.at - from).toBeGreaterThanOrEqual(timing.patienceMs - timing.renewEveryMs);
      outage.end();
    });

    it('a stale renewer: an owner whose lease another wrote over learns it at its next renewal and lets go', async () => {
      const kv = await (await world.as('inventory')).kv(Bucket.journalLeases);
      const a = await lease('a', { kv });
      expect(await a.tryAcquire()).toBe(true);
      const lost: LeaseLoss[] = [];
      a.hold((w) => lost.push(w));
      await kv.put(KEY, JSON.stringify({ owner: 'intruder', n: 1 }));
      await until(() => lost.length > 0);
      expect(lost).toEqual(['taken']);
      expect(a.held).toBe(false);
    });

    /** Owner 'a' holds the lease through a flaky Kv; `fault` befalls its next renewal; after `ms`, has it kept the lease? */
    const keptThrough = async (fault: (flaky: ReturnType<typeof flakyKv>) => void, ms: number) => {
      const flaky = flakyKv(await (await world.as('inventory')).kv(Bucket.journalLeases));
      const a = await lease('a', { kv: flaky.kv });
      expect(await a.tryAcquire()).toBe(true);
      const lost: LeaseLoss[] = [];
      a.hold((w) => lost.push(w));
      fault(flaky);
      await sleep(ms);
      return { lost, held: a.held };
    };

    it('a renewal whose answer was lost is recognised as the owner\'s own: the lease is kept', async () => {
      expect(await keptThrough((f) => f.loseNextAnswer(), 2 * TTL)).toEqual({ lost: [], held: true });
    });

    it('a renewal that is never answered does not hold the next ones back: the lease is kept', async () => {
      expect(await keptThrough((f) => f.dropNext(), 2 * TTL)).toEqual({ lost: [], held: true });
    });

    it('a renewal answered after later ones is taken for what it is: the lease is kept, and renewed on the latest revision', async () => {
      expect(await keptThrough((f) => f.delayNextAnswer(2.5 * timing.renewEveryMs), 3 * TTL)).toEqual({ lost: [], held: true });
      const b = await lease('b');
      expect(await b.tryAcquire()).toBe(false);
    });
  });
}
