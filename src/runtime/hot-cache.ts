/**
 * The hot actors of a host: the last `capacity` or so used, in two generations of Maps. A set
 * goes into the young one; once that holds half the capacity it becomes the old one and the
 * previous old one is dropped whole; a hit in the old one moves the entry to the young one.
 *
 * Why not one Map kept in use order (delete and set again on each use, the first key evicted)? A
 * Map deletes by leaving a hole that only its next rehash removes, and the eviction's search for
 * the first live key walks past the holes at the front: in isolation (2,000 actors, each new one
 * used three times) 1.8-6.0 µs per actor against 0.4-1.6 here, at load 13; `remember` was 44 µs
 * of self time per checkout in a profile of an embedded run (docs/benchmarks.md, "The hot actors
 * cache"). Here nothing is deleted one by one and nothing is walked.
 * An entry used within the last half capacity of sets is always kept; one unused for a whole
 * capacity of sets is always gone.
 */
export class HotCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly half: number;

  constructor(capacity: number) {
    this.half = Math.max(1, Math.ceil(capacity / 2));
  }

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const aging = this.old.get(key);
    if (aging !== undefined) this.set(key, aging);
    return aging;
  }

  set(key: string, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map<string, V>();
    }
  }

  delete(key: string): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
