/**
 * The inbox window's table (journal.ts): a key's 30-bit hash to the position of the record that
 * handled it, in typed arrays instead of a Map.
 *
 *   ring   (hash, position) per key, in position order: forgetting the oldest pops its front
 *   index  open addressing (linear probing) from a hash to its ring slot, at most half full
 *
 * Why not a Map<number, number>: at 300,000 keys (two minutes at 250 checkouts/s) it cost 49 bytes
 * a key filled once but 98 in a window that slides (V8's ordered hash table keeps a deleted entry's
 * slot until it rehashes, and doubles rather than rehash in place while fewer than half of its
 * slots are deleted), against 121 and 170 for the `{pos, at}` object per 53-bit hash before it.
 * Here a key costs 12 bytes of ring and 8 of index per ring slot, the ring 1 to 4 times the keys
 * it holds: 35 bytes a key at 300,000, filled or sliding (docs/experiments/inbox-window-memory.ts;
 * docs/benchmarks.md, "The inbox window's memory"), in two buffers outside the JS heap that the
 * garbage collector does not mark.
 *
 * The embedded bus's duplicate windows hold a message id's hash to its sequence in it too
 * (transport/in-process/duplicate-window.ts).
 *
 * One position per hash: `set` replaces the position of a hash already held (the journal first
 * moves a different key of the same hash to its overflow map). Positions are set in increasing
 * order; `forgetBefore` drops every key below a position.
 */

/**
 * A key's 30-bit hash (FNV-1a, folded): a small integer on every V8 build, which the table holds in
 * an Int32Array. The journal's inbox keys (`inboxKeyHash`) and the embedded bus's message ids
 * (transport/in-process/duplicate-window.ts) are hashed by it.
 */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

export class InboxWindow {
  private hashes: Int32Array;
  private positions: Float64Array;
  /** Ring slot + 1 per index slot; 0 is empty. Twice the ring's size. */
  private index: Int32Array;
  /** log2 of the index's size, for the multiplicative hash of `home`. */
  private bits: number;
  /** The oldest ring slot, and how many slots from it are in use (a replaced key's old slot too, until popped). */
  private start = 0;
  private count = 0;
  /** Keys held (index entries). */
  size = 0;

  /** @param minSlots the ring's smallest size, a power of two: 1,024 (20 KiB) for a store that handles little. */
  constructor(private readonly minSlots = 1_024) {
    this.hashes = new Int32Array(minSlots);
    this.positions = new Float64Array(minSlots);
    this.index = new Int32Array(minSlots * 2);
    this.bits = Math.log2(minSlots * 2);
  }

  /** The position held for `hash`, if any. */
  get(hash: number): number | undefined {
    const i = this.find(hash);
    return i < 0 ? undefined : this.positions[this.index[i]! - 1];
  }

  /** Holds `pos` for `hash` (replacing its earlier position); `pos` is above every position held. */
  set(hash: number, pos: number): void {
    if (this.count === this.hashes.length) this.resize(this.hashes.length * 2);
    const slot = (this.start + this.count) & (this.hashes.length - 1);
    this.hashes[slot] = hash;
    this.positions[slot] = pos;
    this.count++;
    const i = this.find(hash);
    if (i >= 0) this.index[i] = slot + 1;
    else {
      this.index[this.emptyFor(hash)] = slot + 1;
      this.size++;
    }
  }

  /** Forgets every key whose position is below `pos`. */
  forgetBefore(pos: number): void {
    const mask = this.hashes.length - 1;
    while (this.count > 0 && this.positions[this.start]! < pos) {
      const i = this.find(this.hashes[this.start]!);
      // A slot whose hash was set again later is not indexed any more: nothing to delete.
      if (i >= 0 && this.index[i] === this.start + 1) this.deleteAt(i);
      this.start = (this.start + 1) & mask;
      this.count--;
    }
    // A quarter full or less: down to twice what is held, so that it is not grown again at once.
    if (this.hashes.length > this.minSlots && this.count * 4 <= this.hashes.length) {
      let slots = this.minSlots;
      while (slots < this.count * 2) slots *= 2;
      this.resize(slots);
    }
  }

  clear(): void {
    this.start = this.count = this.size = 0;
    this.resize(this.minSlots);
  }

  /** Bytes held by the arrays (what `process.memoryUsage().arrayBuffers` counts of it). */
  get bytes(): number {
    return this.hashes.byteLength + this.positions.byteLength + this.index.byteLength;
  }

  /** Fibonacci hashing: the index slot a hash probes first. */
  private home(hash: number): number {
    return Math.imul(hash, 0x9e3779b1) >>> (32 - this.bits);
  }

  /** The index slot holding `hash`, or -1. */
  private find(hash: number): number {
    const mask = this.index.length - 1;
    for (let i = this.home(hash); ; i = (i + 1) & mask) {
      const s = this.index[i]!;
      if (s === 0) return -1;
      if (this.hashes[s - 1] === hash) return i;
    }
  }

  private emptyFor(hash: number): number {
    const mask = this.index.length - 1;
    let i = this.home(hash);
    while (this.index[i] !== 0) i = (i + 1) & mask;
    return i;
  }

  /** Deletes index slot `i`, moving back the entries after it that would no longer be found (linear probing's deletion, no tombstones). */
  private deleteAt(i: number): void {
    const mask = this.index.length - 1;
    this.index[i] = 0;
    this.size--;
    for (let j = (i + 1) & mask; this.index[j] !== 0; j = (j + 1) & mask) {
      const k = this.home(this.hashes[this.index[j]! - 1]!);
      // The entry at j may move to the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      this.index[i] = this.index[j]!;
      this.index[j] = 0;
      i = j;
    }
  }

  /** The ring at `slots` (a power of two, at least `count`), its slots in order from 0, and the index rebuilt. */
  private resize(slots: number): void {
    const hashes = new Int32Array(slots);
    const positions = new Float64Array(slots);
    const mask = this.hashes.length - 1;
    // The live slots only: the index's entries, found again from the old ring in order.
    const live: number[] = [];
    for (let n = 0; n < this.count; n++) {
      const s = (this.start + n) & mask;
      const i = this.find(this.hashes[s]!);
      if (i >= 0 && this.index[i] === s + 1) live.push(s);
    }
    live.forEach((s, n) => {
      hashes[n] = this.hashes[s]!;
      positions[n] = this.positions[s]!;
    });
    this.hashes = hashes;
    this.positions = positions;
    this.index = new Int32Array(slots * 2);
    this.bits = Math.log2(slots * 2);
    this.start = 0;
    this.count = live.length;
    this.size = 0;
    for (let n = 0; n < live.length; n++) {
      this.index[this.emptyFor(hashes[n]!)] = n + 1;
      this.size++;
    }
  }
}
