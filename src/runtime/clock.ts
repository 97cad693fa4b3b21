/**
 * Time is injected: hosts read a Clock, machines receive `now` in their events.
 *
 * A clock may also own the runtime's timers (`setTimer`) and its "next turn of the event loop"
 * (`defer`). Production clocks leave both unset and the runtime uses Node's own, unref'd; the
 * deterministic simulator (src/devtools/simulation/) sets them, so that a simulated run has no
 * real timer in it and its time jumps from one due event to the next.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once `ms` of this clock's time have passed; returns a function that cancels it. */
  setTimer?(fn: () => void, ms: number): () => void;
  /** Calls `fn` on a later turn of the event loop, after the current one's promises settle. */
  defer?(fn: () => void): void;
}

export const systemClock: Clock = { now: () => Date.now() };

/** `clock.setTimer`, or a real timer that does not keep the process alive. */
export function setTimerOn(clock: Clock, fn: () => void, ms: number): () => void {
  if (clock.setTimer) return clock.setTimer(fn, ms);
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
}

/** `clock.defer`, or `setImmediate`. */
export function deferOn(clock: Clock, fn: () => void): void {
  if (clock.defer) clock.defer(fn);
  else setImmediate(fn);
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = Date.parse('2026-01-01T00:00:00Z')) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
