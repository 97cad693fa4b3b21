/**
 * The orchestrator instances, for the explorer's list. Each instance holds the sagas it started
 * in its own store, so a list that shows every saga asks every instance and merges their pages.
 *
 * Instances register in the `saga-owners` bucket, next to the claims they make on sagas: instance
 * `n` holds the key `instance.<n>`, taken with an atomic create of the lowest free slot (or the
 * slot that already holds this instance's id, after a restart). Reading `instance.0`, `instance.1`,
 * ... up to the first missing key lists every instance that ever registered; one that is gone for
 * good keeps its slot and answers no more (no responders), which the list reports as unreachable.
 */
import type { ListCheckoutsResponse } from '../../contracts/messages/checkout.ts';
import { encodeCursor } from '../../runtime/journal-queries.ts';
import type { Kv } from '../../runtime/transport/transport.ts';

const slotKey = (n: number): string => `instance.${n}`;
/** More instances of one orchestrator than any deployment here would run; a guard against a runaway loop. */
const MAX_SLOTS = 1_000;

/** How many instance keys registerInstance reads at once. */
const READ_AT_ONCE = 8;

/**
 * Takes this instance's slot: its own from an earlier start, else the lowest free one. The keys are
 * read several at once, and one is written only when this instance has none: an orchestrator slot
 * taken over (its instance `slot-<k>` registered by its earlier owner) wrote one key after another
 * until it found its own, a KV round trip through the bucket's leader each, up to 1 s of a
 * takeover under load for slot-3. A create that finds the key taken (a stale read, another
 * instance registering at the same moment) moves on to the next.
 */
export async function registerInstance(owners: Kv, instanceId: string): Promise<number> {
  for (let base = 0; base < MAX_SLOTS; base += READ_AT_ONCE) {
    const entries = await Promise.all(Array.from({ length: READ_AT_ONCE }, (_, i) => owners.get(slotKey(base + i))));
    const mine = entries.findIndex((e) => e?.value === instanceId);
    if (mine >= 0) return base + mine;
    const free = entries.findIndex((e) => e === undefined);
    if (free < 0) continue;
    for (let n = base + free; n < MAX_SLOTS; n++) {
      const existing = await owners.create(slotKey(n), instanceId);
      if (!existing || existing.value === instanceId) return n;
    }
  }
  throw new Error(`no free orchestrator instance slot in the first ${MAX_SLOTS}`);
}

/** Every instance that registered, in slot order. */
export async function registeredInstances(owners: Kv): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < MAX_SLOTS; n++) {
    const entry = await owners.get(slotKey(n));
    if (!entry) break;
    ids.push(entry.value);
  }
  return ids;
}

type Summary = ListCheckoutsResponse['checkouts'][number];

/** Newest first, as each instance orders its own page: by update time, then id, both descending. */
const newestFirst = (a: Summary, b: Summary): number =>
  a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : a.checkoutId < b.checkoutId ? 1 : a.checkoutId > b.checkoutId ? -1 : 0;

/**
 * One page from the pages every instance gave for the same request. Each page holds the instance's
 * newest `limit` sagas after the request's cursor, so the merged newest `limit` are the page; the
 * next cursor is the last of them, a position every instance reads the same way.
 */
export function mergePages(pages: readonly ListCheckoutsResponse[], limit: number): ListCheckoutsResponse {
  const rows = pages.flatMap((p) => p.checkouts).sort(newestFirst);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const more = rows.length > limit || pages.some((p) => p.nextCursor !== undefined);
  const counts = new Map<string, { state: string; status: Summary['status']; count: number }>();
  for (const f of pages.flatMap((p) => p.facets)) {
    const key = `${f.status}|${f.state}`;
    const c = counts.get(key);
    if (c) c.count += f.count;
    else counts.set(key, { ...f });
  }
  return {
    checkouts: page,
    ...(more && last ? { nextCursor: encodeCursor(Date.parse(last.updatedAt), last.checkoutId) } : {}),
    facets: [...counts.values()].sort((a, b) => b.count - a.count),
  };
}
