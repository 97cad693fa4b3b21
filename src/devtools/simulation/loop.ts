/**
 * The simulated event loop and clock. Every timer, every "next turn" and every network delivery of
 * a simulated run is a task in one queue ordered by (due time, sequence); the loop runs one task,
 * lets the promises it started settle, and takes the next. Time does not pass between tasks: it
 * jumps to the next task's due time (and further when the clock fault jumps it). Nothing in a run
 * waits for a real timer, so a run of minutes of simulated time takes milliseconds.
 *
 * Why this is deterministic: the only real macrotask a run uses is the `setImmediate` the loop
 * awaits after each task, and Node drains every microtask (promise reaction) before it. So the
 * interleaving of the system's async code is decided by the order of the tasks alone, and that is
 * decided by the seed.
 */
import type { Clock } from '../../runtime/clock.ts';
import { MinHeap } from '../../runtime/min-heap.ts';

/** 2026-01-01T00:00:00Z: simulated time starts here, whatever the real date. */
export const SIM_EPOCH = Date.UTC(2026, 0, 1);

interface Task {
  at: number;
  seq: number;
  owner: string;
  fn: () => void;
  cancelled: boolean;
}

const before = (x: Task, y: Task) => x.at < y.at || (x.at === y.at && x.seq < y.seq);

const realTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class SimLoop {
  now = SIM_EPOCH;
  steps = 0;
  private seq = 0;
  /** Every task, by (at, seq). */
  private readonly heap = new MinHeap<Task>(before);
  private readonly dead = new Set<string>();
  /** Errors thrown by a task: the system threw where nobody catches; a run reports them. */
  readonly uncaught: string[] = [];

  /** Schedules `fn` after `delayMs` of simulated time, on behalf of `owner` (an instance, the network, a shopper). */
  schedule(owner: string, delayMs: number, fn: () => void): () => void {
    if (this.dead.has(owner)) return () => undefined;
    const task: Task = { at: this.now + Math.max(0, delayMs), seq: this.seq++, owner, fn, cancelled: false };
    this.heap.push(task);
    return () => void (task.cancelled = true);
  }

  /** The owner crashed: its pending tasks never run, and it can schedule nothing more. */
  kill(owner: string): void {
    this.dead.add(owner);
  }

  isDead(owner: string): boolean {
    return this.dead.has(owner);
  }

  /** A clock for one owner: it reads simulated time, and its timers and turns are tasks of this loop. */
  clockFor(owner: string): Clock {
    return {
      now: () => this.now,
      setTimer: (fn, ms) => this.schedule(owner, ms, fn),
      defer: (fn) => void this.schedule(owner, 0, fn),
    };
  }

  /** Moves time forward without running anything (the clock fault). */
  jump(ms: number): void {
    this.now += ms;
  }

  /** When the next task is due, or undefined if the queue is empty. */
  nextAt(): number | undefined {
    this.skipCancelled();
    return this.heap.peek()?.at;
  }

  private skipCancelled(): void {
    for (let t = this.heap.peek(); t && (t.cancelled || this.dead.has(t.owner)); t = this.heap.peek()) this.heap.pop();
  }

  /** Runs the next task and lets what it started settle. Returns false when nothing is left to run. */
  async step(): Promise<boolean> {
    this.skipCancelled();
    const task = this.heap.pop();
    if (!task) return false;
    this.now = Math.max(this.now, task.at);
    this.steps++;
    try {
      task.fn();
    } catch (err) {
      this.uncaught.push(`${task.owner}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
    await realTurn();
    return true;
  }
}
