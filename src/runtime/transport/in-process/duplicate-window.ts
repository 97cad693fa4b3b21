/**
 * One stream's duplicate window in the embedded bus (bus-store.ts), as JetStream keeps it: a publish
 * whose message id the stream stored within the window is not stored again.
 *
 * The guarantee, exactly (the same as the `Map<msgId, {seq, at}>` this replaced):
 *   - A publish of id X at `now` is a duplicate if and only if the stream stored X at a time `at`
 *     with `now - at <= windowMs`, measured by the clock the store was given and each message's own
 *     stored `at`, to the millisecond. The repeat gets that message's sequence and stores nothing.
 *   - It holds within a batch not yet committed (the batch's rows are read on its connection),
 *     after a rolled-back batch (rebuilt from what was committed) and across a reopen (rebuilt from
 *     the stored messages of the last window, newest first until the first older one).
 *   - A message a prune deletes while it is still within the window (a retention shorter than the
 *     window: only tests configure one; NATS refuses it) keeps its id here, by the whole id, until
 *     the window passes it or the store reopens, as the Map kept it.
 *
 * How it is held: the id's 30-bit hash (keyHash) to the message's sequence in an InboxWindow
 * (../../inbox-window.ts: a ring in sequence order and an open-addressing index, in buffers outside
 * the JS heap), not the id's string with a `{seq, at}` object in a Map: at 66,000 ids (two minutes
 * at 500 checkouts/s, 1.1 stream messages each) 41 bytes an id against 169 filled once and 224 in
 * a window that slides, 2.6 MiB against 14.1 (docs/benchmarks.md, "The bus's duplicate window"). A new id
 * is a miss in the table and costs no read; a hit (a repeat, or another id of the same hash) reads
 * the stored message's own id and time by its sequence, so a shared hash costs a read, never a
 * wrong answer. When a later id takes a hash, the earlier id moves to `overflow` by its whole id
 * (at 300,000 ids, about 40 of them). The times are not held per id but per second of messages
 * (`times`): the ids of a second are forgotten when its newest message leaves the window, up to a
 * second late, which costs memory only, since a hit is answered by the message's own time.
 */
import { InboxWindow, keyHash } from '../../inbox-window.ts';

/** What the window reads of a stored message: its id and when it was stored. */
export interface StoredId {
  msgId: string;
  at: number;
}

/** The span of time one entry of the window's clock covers (`times`). */
const TIME_GRAIN_MS = 1_000;

export class DuplicateWindow {
  /** Each id's hash to the sequence of the newest message stored with an id of that hash. */
  private readonly table = new InboxWindow();
  /** Ids whose hash a later id took, and ids of pruned messages still within the window. */
  private readonly overflow = new Map<string, { seq: number; at: number }>();
  /**
   * The window's clock, oldest first: per span of TIME_GRAIN_MS from its first message (`from`),
   * that message's sequence and the time of the span's newest (`at`).
   */
  private readonly times: Array<{ seq: number; from: number; at: number }> = [];

  /**
   * @param windowMs how long an id is a duplicate after it was stored
   * @param stored reads a stored message's id and time by its sequence (undefined once deleted)
   */
  constructor(
    private readonly windowMs: number,
    private readonly stored: (seq: number) => StoredId | undefined,
  ) {}

  /** The sequence of the message stored with `msgId` within the window at `now`, if any. */
  find(msgId: string, now: number): number | undefined {
    this.forget(now);
    const since = now - this.windowMs;
    const seq = this.table.get(keyHash(msgId));
    if (seq !== undefined) {
      const m = this.stored(seq);
      if (m?.msgId === msgId) return m.at >= since ? seq : undefined;
    }
    const spilled = this.overflow.get(msgId);
    return spilled !== undefined && spilled.at >= since ? spilled.seq : undefined;
  }

  /**
   * Remembers a message just stored (in sequence order; its row readable by `stored`). A different
   * id held under its hash moves to the overflow.
   */
  remember(msgId: string, seq: number, at: number): void {
    const h = keyHash(msgId);
    const other = this.table.get(h);
    if (other !== undefined) {
      const m = this.stored(other);
      if (m !== undefined && m.msgId !== msgId) this.overflow.set(m.msgId, { seq: other, at: m.at });
    }
    this.table.set(h, seq);
    const span = this.times[this.times.length - 1];
    if (span && at < span.from + TIME_GRAIN_MS) span.at = Math.max(span.at, at);
    else this.times.push({ seq, from: at, at });
  }

  /** A message about to be deleted by a prune while within the window: its id is kept by the whole id. */
  pruned(msgId: string, seq: number, at: number): void {
    this.overflow.set(msgId, { seq, at });
  }

  /** Ids held (for the tests and the memory experiment). */
  get size(): number {
    return this.table.size + this.overflow.size;
  }

  /** Bytes of the table's buffers. */
  get bytes(): number {
    return this.table.bytes;
  }

  /**
   * Forgets the ids of every span whose newest message is older than the window (the spans are in
   * sequence order, which is time order but for a clock stepping back, which only keeps ids longer).
   */
  private forget(now: number): void {
    const since = now - this.windowMs;
    let spans = 0;
    while (spans < this.times.length && this.times[spans]!.at < since) spans++;
    if (spans === 0) return;
    const keep = this.times[spans]?.seq ?? Infinity;
    this.times.splice(0, spans);
    this.table.forgetBefore(keep);
    for (const [id, m] of this.overflow) if (m.at < since) this.overflow.delete(id);
  }
}
