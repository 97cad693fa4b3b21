/** Promises still running, so that a close or drain can wait for the work it already accepted. */
export class InFlight {
  private readonly set = new Set<Promise<unknown>>();

  track(p: Promise<unknown>): void {
    this.set.add(p);
    const forget = (): void => void this.set.delete(p);
    // Not finally(): that would re-raise a rejection nobody handles.
    p.then(forget, forget);
  }

  get size(): number {
    return this.set.size;
  }

  /** Resolves once nothing is running, including work started while waiting. */
  async settled(): Promise<void> {
    while (this.set.size > 0) await Promise.allSettled([...this.set]);
  }
}
