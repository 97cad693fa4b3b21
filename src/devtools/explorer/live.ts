/**
 * Live updates for the explorer, over Server-Sent Events.
 *
 * The orchestrator writes a checkout's status document to the `checkouts` KV bucket after each
 * committed step, so watching that key is the prompt signal to re-fetch the trace. It is not the
 * only one: moving between compensation steps, an outbox row being sent or a timer being armed
 * change the trace without a new status document. So while someone watches a saga that can still
 * change, the trace is also re-fetched every `pollMs`; a frame is sent only when the trace differs.
 */
import type { CheckoutTrace } from '../../contracts/index.ts';
import type { Closer } from '../../runtime/transport/transport.ts';
import type { ExplorerSource } from './data.ts';

/** What, in a trace, a viewer would notice changing. */
export function traceFingerprint(t: CheckoutTrace): string {
  return JSON.stringify([
    t.seq,
    t.outbox.map((o) => [o.status, o.attempts]),
    t.timers.map((x) => [x.name, x.dueAt]),
  ]);
}

/** Nothing more can happen to this saga: final state, nothing left to send, no timer armed. */
export const isSettled = (t: CheckoutTrace): boolean =>
  t.status !== 'active' && t.timers.length === 0 && t.outbox.every((o) => o.status !== 'pending');

export interface FeedOptions {
  pollMs: number;
}

/**
 * Follows one checkout: calls `onTrace` with the current trace, then with every changed one.
 * `onTrace(undefined)` means no orchestrator holds the saga (yet).
 */
export async function followCheckout(
  data: ExplorerSource,
  checkoutId: string,
  opts: FeedOptions,
  onTrace: (t: CheckoutTrace | undefined) => void,
  onError: (err: unknown) => void,
): Promise<Closer> {
  // A recorded run never changes: one read, nothing to watch or poll.
  if (!data.live) {
    onTrace(await data.trace(checkoutId));
    return { close: async () => undefined };
  }
  let last: string | undefined;
  let running = false;
  let again = false;
  let closed = false;
  let settled = false;
  const refresh = async (): Promise<void> => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const trace = await data.trace(checkoutId);
      const print = trace ? traceFingerprint(trace) : 'absent';
      settled = trace !== undefined && isSettled(trace);
      if (print !== last && !closed) {
        last = print;
        onTrace(trace);
      }
    } catch (err) {
      if (!closed) onError(err);
    } finally {
      running = false;
      if (again) {
        again = false;
        void refresh();
      }
    }
  };
  const poll = setInterval(() => {
    if (!settled) void refresh();
  }, opts.pollMs);
  poll.unref();
  let watch: Closer | undefined;
  try {
    const kv = await data.checkouts();
    watch = await kv.watch(checkoutId, () => {
      settled = false;
      void refresh();
    });
  } catch (err) {
    onError(err); // polling still covers it
  }
  await refresh();
  return {
    async close() {
      closed = true;
      clearInterval(poll);
      await watch?.close();
    },
  };
}

/**
 * One KV watch over every checkout, shared by all list viewers: each gets a `changed` call at
 * most every `coalesceMs` with the ids that changed.
 */
export class ListFeed {
  private readonly listeners = new Set<(ids: string[]) => void>();
  private watch: Promise<Closer> | undefined;
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly data: ExplorerSource,
    private readonly coalesceMs: number,
  ) {}

  async subscribe(listener: (ids: string[]) => void): Promise<() => void> {
    this.listeners.add(listener);
    this.watch ??= this.data.checkouts().then((kv) => kv.watch('>', (e) => this.note(e.key)));
    try {
      await this.watch;
    } catch (err) {
      this.watch = undefined;
      this.listeners.delete(listener);
      throw err;
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.stop();
    };
  }

  async stop(): Promise<void> {
    const w = this.watch;
    this.watch = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await (await w?.catch(() => undefined))?.close();
  }

  private note(key: string): void {
    this.pending.add(key);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // The watch starts by replaying every key: name a few, the page re-fetches its list anyway.
      const ids = [...this.pending].slice(0, 50);
      this.pending = new Set();
      for (const l of this.listeners) l(ids);
    }, this.coalesceMs);
    this.timer.unref();
  }
}
