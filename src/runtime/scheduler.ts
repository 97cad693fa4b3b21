/**
 * Durable timers. A timer is armed by the journal record of the transition that armed it, held in
 * memory by the journal (and checkpointed with its actor), and rebuilt at open. The scheduler
 * sleeps until the earliest due time, then delivers each due timer's event to its actor; that
 * delivery's record disarms it. The firing names the timer *and the sequence that armed it*, and
 * the host delivers it only while that arming is still armed, so a timer fires at most once. A
 * stale timer (the actor has moved on and ignores the event) changes nothing but is disarmed.
 * Only the timers within the journal's horizon are held (journal.ts, TIMER_HORIZON_MS): each wake
 * first moves the horizon (`loadHorizon`), and the scheduler wakes at least every
 * min(MAX_SLEEP_MS, horizon / 2), so a parked timer is in the heap well before it is due.
 */
import { noReply, type ActorHost } from './actor-host.ts';
import { isBroken } from './broken.ts';
import { setTimerOn, type Clock } from './clock.ts';
import { Journal, type ArmedTimer, type Committed } from './journal.ts';
import { MinHeap } from './min-heap.ts';
import { SimulatedCrash, type Store } from './store.ts';

const MAX_SLEEP_MS = 60_000;
/** Below this many entries the heap is never rebuilt (see `compactAbove`). */
const COMPACT_MIN = 64;

export class TimerScheduler {
  private cancelTimer: (() => void) | undefined;
  private wakeAt = Infinity;
  private stopped = false;
  private firing: Promise<void> | undefined;
  /** Timers by due time; entries no longer armed are skipped when they surface. */
  private readonly heap = new MinHeap<ArmedTimer>((x, y) => x.dueAt < y.dueAt);
  /**
   * A timer re-armed or disarmed leaves its old entry in the heap until that entry's due time, and
   * for a cart's 24-hour abandon timer, re-armed by every change, that is a day: a heap snapshot
   * after 16,500 carts were filled held 46,000 entries for 16,500 armed timers. Past this size the
   * heap is rebuilt from the armed timers, and the bound set to twice what remains (amortised O(1)
   * per arming).
   */
  private compactAbove = COMPACT_MIN;
  private readonly journal: Journal;

  constructor(
    private readonly store: Store,
    private readonly hosts: ReadonlyMap<string, ActorHost>,
    private readonly clock: Clock,
    private readonly log: (msg: string, err?: unknown) => void = () => undefined,
  ) {
    this.journal = Journal.of(store, { clock });
    this.journal.onCommitted((records) => this.take(records));
    this.journal.onTimersLoaded((timers) => {
      for (const t of timers) this.heap.push(t);
      this.arm();
    });
    store.onRollback(() => this.reload());
    this.reload();
  }

  private reload(): void {
    this.heap.clear();
    for (const timers of this.journal.timers.values()) for (const t of timers.values()) this.heap.push(t);
    this.compactAbove = Math.max(COMPACT_MIN, 2 * this.heap.size);
  }

  /** Entries in the heap, armed or stale (for tests). */
  get scheduled(): number {
    return this.heap.size;
  }

  private take(records: Committed[]): void {
    for (const { record } of records) {
      if (!record.timers) continue;
      for (const op of record.timers) {
        if (op.dueAt === undefined) continue;
        const armed = this.journal.armedTimer(record.kind, record.id, op.name);
        if (armed && armed.seq === record.seq) this.heap.push(armed);
      }
    }
    if (this.heap.size > this.compactAbove) this.reload();
  }

  private isArmed(t: ArmedTimer): boolean {
    return this.journal.armedTimer(t.kind, t.id, t.name) === t;
  }

  /** (Re)computes when to wake. Call after any commit that armed a timer. */
  arm(): void {
    if (this.stopped || this.store.closed) return;
    while (this.heap.size > 0 && !this.isArmed(this.heap.peek()!)) this.heap.pop();
    // With nothing due sooner, the next wake moves the horizon.
    const next = Math.min(this.heap.peek()?.dueAt ?? Infinity, this.clock.now() + Math.max(1, Math.floor(this.journal.timerHorizonMs / 2)));
    if (this.cancelTimer && this.wakeAt <= next) return;
    this.cancelTimer?.();
    const delay = Math.min(MAX_SLEEP_MS, Math.max(0, next - this.clock.now()));
    this.wakeAt = this.clock.now() + delay;
    this.cancelTimer = setTimerOn(this.clock, () => {
      this.cancelTimer = undefined;
      this.wakeAt = Infinity;
      void this.runDue();
    }, delay);
  }

  /** Fires every timer due now. Tests with a manual clock call it directly. */
  async runDue(): Promise<number> {
    if (this.firing) await this.firing;
    if (this.stopped || this.store.closed) return 0;
    try {
      await this.store.flushed();
    } catch {
      return 0; // that batch failed (the store may be dead): a restart re-arms from the journal
    }
    this.journal.loadHorizon();
    const now = this.clock.now();
    // A set: a rebuild (compactAbove) while a batch is open may hold a timer that batch armed, which
    // its commit then pushes again.
    const due = new Set<ArmedTimer>();
    while (this.heap.size > 0 && this.heap.peek()!.dueAt <= now && due.size < 512) {
      const t = this.heap.pop()!;
      if (this.isArmed(t)) due.add(t);
    }
    const run = Promise.all([...due].map((t) => this.fire(t))).then(() => undefined);
    this.firing = run;
    try {
      await run;
    } finally {
      this.firing = undefined;
      this.arm();
    }
    return due.size;
  }

  private async fire(t: ArmedTimer): Promise<void> {
    const host = this.hosts.get(t.kind);
    if (!host) {
      this.log(`timer ${t.name} for unknown actor kind ${t.kind}`);
      return;
    }
    const inboxKey = `timer/${t.kind}/${t.id}/${t.name}/${t.seq}`;
    try {
      // Through the actor's mailbox: a timer must not slip between a handler's read and its write.
      await host.exclusive(t.id, () => host.deliver(t.id, t.event as never, { inboxKey, timer: { name: t.name, seq: t.seq }, reply: noReply }));
      if (isBroken('timerFiresTwice')) {
        // Broken on purpose (broken.ts): the event is delivered once more, as if nothing had disarmed it.
        await host.exclusive(t.id, () => host.deliver(t.id, t.event as never, { inboxKey: `${inboxKey}/again`, reply: noReply }));
      }
    } catch (err) {
      if (err instanceof SimulatedCrash) this.stop();
      else this.log(`timer ${t.kind}/${t.id}/${t.name} failed`, err);
    }
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }
}
