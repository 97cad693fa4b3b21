/**
 * One watch of the `checkouts` bucket per gateway, shared by all its SSE streams.
 *
 * A watch per stream costs the server a consumer per open browser tab; a gateway with thousands
 * of shoppers watching would be thousands of consumers. Instead the first stream opens one
 * updates-only watch of the whole bucket, every stream listens to its own key on it, and the
 * watch is closed when the last stream leaves (or the gateway closes).
 *
 * Updates only: opening it replays nothing, however many checkouts the bucket holds. A listener
 * is registered and the watch is up before its caller reads the key's current value, so no change
 * can fall between the read and the watch; what arrives twice, the caller drops by revision.
 */
import type { Closer, KvEntry } from '../runtime/transport/transport.ts';
import { statusStreams, statusWatches } from '../runtime/metrics.ts';

export interface StatusListener {
  onEntry(e: KvEntry): void;
}

/** Opens the bucket's updates-only watch of every key. */
export type OpenWatch = (onEntry: (e: KvEntry) => void) => Promise<Closer>;

export class StatusWatch {
  private readonly byKey = new Map<string, Set<StatusListener>>();
  private listeners = 0;
  /** The shared watch: opening or open; undefined when no stream listens. */
  private watch: Promise<Closer> | undefined;
  private watchesOpen = 0;

  constructor(private readonly open: OpenWatch) {}

  /** Watches open now (0 or 1, and briefly 2 while one that lost its last listener closes). */
  get openWatches(): number {
    return this.watchesOpen;
  }

  /**
   * Listens to one key's changes; resolves once the shared watch is up, so a value read after
   * this resolves is no older than what the listener will be told next.
   */
  async listen(key: string, listener: StatusListener): Promise<Closer> {
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add(listener);
    this.listeners++;
    statusStreams.inc();
    let removed = false;
    const remove = (): void => {
      if (removed) return;
      removed = true;
      set.delete(listener);
      if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key);
      this.listeners--;
      statusStreams.dec();
      if (this.listeners === 0) void this.closeWatch();
    };
    try {
      await this.ensureOpen();
    } catch (err) {
      remove();
      throw err;
    }
    return { close: async () => remove() };
  }

  /** Closes the shared watch whatever still listens (the gateway is closing). */
  async close(): Promise<void> {
    await this.closeWatch();
  }

  private ensureOpen(): Promise<Closer> {
    if (this.watch) return this.watch;
    const opening = this.open((e) => this.dispatch(e));
    this.watch = opening;
    opening.then(
      () => {
        this.watchesOpen++;
        statusWatches.inc();
      },
      () => {
        // A failed open is forgotten, so the next stream tries again (NATS may be back).
        if (this.watch === opening) this.watch = undefined;
      },
    );
    return opening;
  }

  private async closeWatch(): Promise<void> {
    const watch = this.watch;
    this.watch = undefined;
    const closer = await watch?.catch(() => undefined);
    if (!closer) return;
    await closer.close().catch(() => undefined);
    this.watchesOpen--;
    statusWatches.dec();
  }

  private dispatch(e: KvEntry): void {
    const set = this.byKey.get(e.key);
    if (!set) return;
    for (const l of [...set]) l.onEntry(e);
  }
}
