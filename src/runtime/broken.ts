/**
 * Deliberately broken variants of the runtime, each behind a switch that only the deterministic
 * simulator's tests turn on (src/devtools/simulation/, tests/sim/teeth.test.ts). They prove that
 * the simulator's invariants have teeth: each variant is a bug a real change could introduce, and
 * the simulator must find it within the CI budget of seeds. Nothing else sets them; all are off.
 */
export const BrokenVariant = {
  /** The relay marks an event's outbox row sent before it publishes it. */
  relayMarksSentFirst: 'relayMarksSentFirst',
  /** A participant's inbox forgets the key of a command it handled, so a re-sent command runs again. */
  inboxForgets: 'inboxForgets',
  /** The saga skips releasing the stock when it compensates after a deadline passed. */
  compensationSkippedAfterTimeout: 'compensationSkippedAfterTimeout',
  /** A durable timer fires twice for one arming. */
  timerFiresTwice: 'timerFiresTwice',
} as const;
export type BrokenVariant = (typeof BrokenVariant)[keyof typeof BrokenVariant];

const active = new Set<BrokenVariant>();

/** True if the variant is switched on (only ever in a simulator test). */
export function isBroken(variant: BrokenVariant): boolean {
  return active.size > 0 && active.has(variant);
}

/** Switches variants on for the duration of `run` (a simulated run is one process, one at a time). */
export async function withBroken<T>(variants: readonly BrokenVariant[], run: () => Promise<T>): Promise<T> {
  for (const v of variants) active.add(v);
  try {
    return await run();
  } finally {
    for (const v of variants) active.delete(v);
  }
}
