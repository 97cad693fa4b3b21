/**
 * A store slot served under a lease (distributed mode): the process holding the slot's lease
 * (slot-lease.ts) serves it; any other process of the same service is a standby that polls the
 * lease and, once it takes it, opens the slot (rebuilding its local store from the replicated
 * journal if it is empty, behind or apart), fences the journal, and starts serving.
 *
 *   standby --lease taken--> opening --serving--> serving
 *      ^                                             |
 *      +---------- lease lost (taken, or not renewed in time): the runtime is killed --+
 *
 * Losing the lease kills the runtime at once: its subscriptions close and its store's held
 * batches are never released, so nobody hears of anything it committed after. The process then
 * goes back to standby: if the lease was lost only because the cluster could not take a renewal
 * (a leader election), it retakes its own lease as soon as the cluster answers again.
 */
import type { Logger } from './service.ts';
import { JournalGap } from './rebuild.ts';
import { slotOpenFailures, slotServing } from './metrics.ts';
import { isTransient } from './transport/errors.ts';
import { LogFenced, LogIndexBroken } from './transport/transport.ts';
import type { AnswerGate, ServiceRuntime } from './service.ts';
import type { SlotLease } from './slot-lease.ts';

/** What an opening took, step by step (ms, counts): filled in by whoever opens the slot. */
export type OpenPhases = Record<string, number>;

export interface LeasedSlotOptions {
  /** Names the slot in logs. */
  name: string;
  /** A fresh lease for each term. */
  lease(): SlotLease;
  /**
   * Opens the slot and starts serving it (the runtime is started when this resolves). `phases`
   * collects how long each step of the opening took (ms, logged with 'slot serving'); `gate` is the
   * term's lease vouching for each answer (the runtime's answerGate, SlotLease.answerable).
   */
  serve(phases: OpenPhases, gate: AnswerGate): Promise<ServiceRuntime>;
  /** A term began (the runtime serves) or ended (undefined). */
  onServing?(rt: ServiceRuntime | undefined): void;
  log: Logger;
  /** After a failed open, the pause before trying again. Default 1 s. */
  retryAfterMs?: number;
  /** Whether this process wants the slot now (it holds less than its fair share); default always. */
  wanted?: () => boolean;
}

export class LeasedSlot {
  private stopped = false;
  private lease: SlotLease | undefined;
  private rt: ServiceRuntime | undefined;
  private loop: Promise<void> | undefined;
  /** Callers of start() still waiting: told when a term begins, when the wait ends, or the first open fails. */
  private readonly waiters = new Set<(err?: unknown) => void>();
  /** Ends the current term's wait (the lease lost, or handed over). */
  private finishTerm: () => void = () => undefined;
  /** The lease is held and the slot is being opened. */
  private opening = false;

  constructor(private readonly opts: LeasedSlotOptions) {}

  /** Whether this process holds the slot's lease (serving it, or opening it). */
  get holds(): boolean {
    return this.lease?.held ?? false;
  }

  /** The runtime serving the slot now, if this process holds it. */
  get runtime(): ServiceRuntime | undefined {
    return this.rt;
  }

  /**
   * Starts contending for the slot, and resolves once this process serves it, or `waitMs` passed
   * without taking the lease (then it is a standby, and goes on contending). A dead previous
   * owner's lease takes one TTL to expire, so a `waitMs` a little over the TTL finds out which.
   * Rejects if this process took the lease but could not open the slot (as a start that fails).
   */
  async start(waitMs: number): Promise<ServiceRuntime | undefined> {
    this.loop ??= this.run();
    if (this.rt) return this.rt;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        clearTimeout(timer);
        this.waiters.delete(done);
        if (err === undefined) resolve();
        else reject(err instanceof Error ? err : new Error(`${this.opts.name}: could not open the slot`, { cause: err }));
      };
      // While the slot is being opened (a rebuild), wait for the outcome rather than the clock.
      const expire = (): void => {
        if (this.opening) timer = setTimeout(expire, 100);
        else done();
      };
      let timer = setTimeout(expire, waitMs);
      this.waiters.add(done);
    });
    return this.rt;
  }

  private tell(err?: unknown): void {
    for (const w of [...this.waiters]) w(err);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const lease = (this.lease = this.opts.lease());
      if (!(await lease.acquire(() => this.stopped, this.opts.wanted))) return;
      let lost = false;
      let onLost: () => void = () => undefined;
      const ended = new Promise<void>((resolve) => (onLost = resolve));
      this.finishTerm = onLost;
      lease.hold((why) => {
        lost = true;
        // With how late this process's timers ran meanwhile: a lease lost to a held event loop (a
        // starved CPU, a long slice of work) rather than to the cluster says so.
        this.opts.log.error({ slot: this.opts.name, why, stalledMs: lease.stalledMs() }, 'slot lease lost: this process stops serving the slot');
        this.end();
        onLost();
      });
      this.opts.log.info({ slot: this.opts.name }, 'slot lease taken: opening the slot');
      let rt: ServiceRuntime;
      this.opening = true;
      const openedAt = performance.now();
      const phases: OpenPhases = {};
      try {
        rt = await this.opts.serve(phases, () => lease.answerable());
      } catch (err) {
        slotOpenFailures.inc({ slot: this.opts.name, reason: openFailureReason(err) });
        this.opts.log.error({ slot: this.opts.name, err: err instanceof Error ? err.message : String(err) }, 'could not open the slot; letting its lease go');
        await lease.release();
        // A start that fails fails its caller, as an unleased one does; but not for a transient
        // failure of NATS (no responders, a timeout: a stream without a leader while a node is
        // lost), which a running process retries: the fresh-clone CI saw a participants process
        // exit ('could not start') when the JOURNAL stream's leader went with a killed node while
        // the process was still taking its partitions. Nor for a rebuild that read the journal with
        // a record missing (JournalGap): a later read may find it, and another process whose store
        // holds it may take the lease let go meanwhile; failing the start would take this process's
        // other slots down with it, and its restart would meet the same gap. Nor for a fence that
        // lost to the previous term's last append (LogFenced: it landed after this opening read the
        // log's head), which the next opening reads and rebuilds with, as a takeover does. Nor for a
        // log whose server does not agree with itself on the slot's last message (LogIndexBroken).
        if (this.waiters.size > 0 && !isTransient(err) && !(err instanceof JournalGap) && !(err instanceof LogFenced) && !(err instanceof LogIndexBroken)) {
          this.stopped = true;
          this.tell(err);
          return;
        }
        await new Promise((r) => setTimeout(r, this.opts.retryAfterMs ?? 1_000));
        continue;
      } finally {
        this.opening = false;
      }
      if (lost || this.stopped) {
        rt.kill();
        if (this.stopped) return;
        continue;
      }
      this.rt = rt;
      slotServing.set({ slot: this.opts.name }, 1);
      this.opts.log.info({ slot: this.opts.name, openMs: Math.round(performance.now() - openedAt), phases }, 'slot serving');
      this.opts.onServing?.(rt);
      this.tell();
      await ended;
    }
  }

  /** The term ends: the runtime is killed (nothing more goes out) and forgotten. */
  private end(): void {
    const rt = this.rt;
    this.rt = undefined;
    if (!rt) return;
    slotServing.set({ slot: this.opts.name }, 0);
    rt.kill();
    this.opts.onServing?.(undefined);
  }

  /**
   * Rebalancing: stops serving the slot gracefully and releases its lease, so that a process with
   * less than its share takes it at once; then contends again (when `wanted` says so).
   */
  async handOver(): Promise<void> {
    const rt = this.rt;
    const lease = this.lease;
    if (!rt || !lease?.held) return;
    this.rt = undefined;
    slotServing.set({ slot: this.opts.name }, 0);
    this.opts.onServing?.(undefined);
    await rt.stop();
    await lease.release();
    this.opts.log.info({ slot: this.opts.name }, 'slot handed over: lease released');
    this.finishTerm();
  }

  /** Graceful: stops serving (the runtime finishes in-flight work), then releases the lease for the next owner. */
  async stop(): Promise<void> {
    this.stopped = true;
    const rt = this.rt;
    this.rt = undefined;
    if (rt) slotServing.set({ slot: this.opts.name }, 0);
    if (rt) await rt.stop();
    await this.lease?.release();
    this.tell();
  }

  /** As a crash: the runtime is killed and the lease is left to expire. */
  kill(): void {
    this.stopped = true;
    this.lease?.stop();
    this.end();
    this.tell();
  }
}

/** Why an opening failed, for journal_slot_open_failures_total. */
function openFailureReason(err: unknown): 'index' | 'gap' | 'fenced' | 'transient' | 'other' {
  if (err instanceof LogIndexBroken) return 'index';
  if (err instanceof JournalGap) return 'gap';
  if (err instanceof LogFenced) return 'fenced';
  return isTransient(err) ? 'transient' : 'other';
}
