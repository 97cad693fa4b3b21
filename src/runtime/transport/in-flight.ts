/** Promises still running, so that a close or drain can wait for the work it already accepted. */
export class InFlight {
  private readonly set = new Set<Promise<unknown>>();

  track(p: Promise<unknown>): void {
    this.set.add(p);
    // Not finally(): that would re-raise a rejection nobody handles. A function made per call
    // without a name of its own: tsx's keepNames would name a `const forget = () => …` at every call.
    const set = this.set;
    p.then(
      () => void set.delete(p),
      () => void set.delete(p),
    );
  }

  get size(): number {
    return this.set.size;
  }

  /** Resolves once nothing is running, including work started while waiting. */
  async settled(): Promise<void> {
    while (this.set.size > 0) await Promise.allSettled([...this.set]);
  }
}

/**
 * The first half of every transport's drain: stop intake in the order a drain needs, then wait for
 * the work already accepted. Consumers close before responders, because a handler still running
 * may make requests that this process's responders should answer, and may publish.
 */
export async function stopIntake(
  consumers: ReadonlySet<{ close(): Promise<void> }>,
  responders: ReadonlySet<{ close(): Promise<void> }>,
  inflight: InFlight,
): Promise<void> {
  await Promise.allSettled([...consumers].map((c) => c.close()));
  await Promise.allSettled([...responders].map((c) => c.close()));
  await inflight.settled();
}
