/**
 * Durable timers. A timer is a row written in the same transaction as the state that armed it;
 * the scheduler sleeps until the earliest `due_at`, then delivers each due timer's event to its
 * actor in a transaction that also deletes the row. The inbox key names the timer *and the
 * event sequence that armed it*, so a timer fires at most once. A stale timer (the actor has moved
 * on and ignores the event) changes nothing; it is just deleted.
 */
import type { EventObject } from 'xstate';
import type { ActorHost } from './actor-host.ts';
import { isBroken } from './broken.ts';
import { setTimerOn, type Clock } from './clock.ts';
import { SimulatedCrash, type Store } from './store.ts';

interface TimerRow {
  kind: string;
  id: string;
  name: string;
  due_at: number;
  event: string;
  armed_at_seq: number;
}

const MAX_SLEEP_MS = 60_000;

export class TimerScheduler {
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private firing: Promise<void> | undefined;
  private readonly stmt;

  constructor(
    private readonly store: Store,
    private readonly hosts: ReadonlyMap<string, ActorHost>,
    private readonly clock: Clock,
    private readonly log: (msg: string, err?: unknown) => void = () => undefined,
  ) {
    const db = store.db;
    this.stmt = {
      next: db.prepare('SELECT min(due_at) FROM timers').pluck(),
      due: db.prepare('SELECT * FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT 512'),
      remove: db.prepare('DELETE FROM timers WHERE kind = ? AND id = ? AND name = ? AND armed_at_seq = ?'),
    };
  }

  /** (Re)computes when to wake. Call after any commit that armed a timer. */
  arm(): void {
    if (this.stopped || this.store.closed) return;
    const next = this.stmt.next.get() as number | null;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    if (next === null) return;
    const delay = Math.min(MAX_SLEEP_MS, Math.max(0, next - this.clock.now()));
    this.cancelTimer = setTimerOn(this.clock, () => void this.runDue(), delay);
  }

  /** Fires every timer due now. Tests with a manual clock call it directly. */
  async runDue(): Promise<number> {
    if (this.firing) await this.firing;
    if (this.stopped || this.store.closed) return 0;
    await this.store.flushed(); // only timers whose arming has committed
    const rows = this.stmt.due.all(this.clock.now()) as TimerRow[];
    const run = Promise.all(rows.map((row) => this.fire(row))).then(() => undefined);
    this.firing = run;
    try {
      await run;
    } finally {
      this.firing = undefined;
      this.arm();
    }
    return rows.length;
  }

  private async fire(row: TimerRow): Promise<void> {
    const host = this.hosts.get(row.kind);
    if (!host) {
      this.log(`timer ${row.name} for unknown actor kind ${row.kind}`);
      return;
    }
    if (isBroken('timerFiresTwice')) return this.fireTwice(host, row);
    try {
      // Through the actor's mailbox: a timer must not slip between a handler's read and its write.
      await host.exclusive(row.id, () =>
        host.deliver(row.id, JSON.parse(row.event) as EventObject, {
          inboxKey: `timer/${row.kind}/${row.id}/${row.name}/${row.armed_at_seq}`,
          also: () => void this.stmt.remove.run(row.kind, row.id, row.name, row.armed_at_seq),
          reply: () => undefined,
        }),
      );
    } catch (err) {
      if (err instanceof SimulatedCrash) this.stop();
      else this.log(`timer ${row.kind}/${row.id}/${row.name} failed`, err);
    }
  }

  /**
   * Broken on purpose (broken.ts): after the real firing, the event is delivered once more under an
   * inbox key that names the firing rather than the arming, so nothing de-duplicates it.
   */
  private async fireTwice(host: ActorHost, row: TimerRow): Promise<void> {
    const key = `timer/${row.kind}/${row.id}/${row.name}/${row.armed_at_seq}`;
    try {
      for (const inboxKey of [key, `${key}/again`]) {
        await host.exclusive(row.id, () =>
          host.deliver(row.id, JSON.parse(row.event) as EventObject, {
            inboxKey,
            also: () => void this.stmt.remove.run(row.kind, row.id, row.name, row.armed_at_seq),
            reply: () => undefined,
          }),
        );
      }
    } catch (err) {
      if (err instanceof SimulatedCrash) this.stop();
      else this.log(`timer ${row.kind}/${row.id}/${row.name} failed`, err);
    }
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }
}
