/**
 * The orchestrator instances, for the explorer's list. Each instance holds the sagas it started
 * in its own store, so a list that shows every saga asks every instance and merges their pages.
 *
 * Instances register in the `saga-owners` bucket, next to the claims they make on sagas: instance
 * `n` holds the key `instance.<n>`, taken with an atomic create of the lowest free slot (or the
 * slot that already holds this instance's id, after a restart). The bucket has a TTL (BucketTtlMs,
 * a day: the claims, one per checkout, are needed no longer), so a live instance rewrites its key
 * every REFRESH_EVERY_MS (`keepRegistered`), by compare-and-set on the revision it wrote last: if
 * its key expired meanwhile (it was cut off or stopped for longer than the TTL) and another instance
 * took the slot, the write is refused and it registers again instead of overwriting the other. An
 * instance gone for good keeps its slot until the TTL passes, answering no more (no responders,
 * which the list reports as unreachable), and then leaves a gap: the keys are read up to a run of
 * READ_AT_ONCE missing ones, not to the first, so a gap hides nobody after it.
 */
import type { ListCheckoutsResponse } from '../../contracts/messages/checkout.ts';
import { setTimerOn, type Clock } from '../../runtime/clock.ts';
import { encodeCursor } from '../../runtime/journal-queries.ts';
import type { Closer, Kv, KvEntry } from '../../runtime/transport/transport.ts';

const slotKey = (n: number): string => `instance.${n}`;
/** More instances of one orchestrator than any deployment here would run; a guard against a runaway loop. */
const MAX_SLOTS = 1_000;

/**
 * How many instance keys are read at once; a run of this many missing keys ends the list. A run
 * that long inside it would take as many instances gone for good within one TTL, none replaced
 * (a new instance takes the lowest free slot, filling gaps first).
 */
const READ_AT_ONCE = 8;

/**
 * How often an instance rewrites its registration: 24 times within the bucket's TTL (a day), so
 * that it lapses only after a day of failed writes (each failure is retried a minute later).
 */
export const REFRESH_EVERY_MS = 3_600_000;
/** How soon a refresh that failed (the KV unreachable) is tried again. */
const REFRESH_RETRY_MS = 60_000;

/**
 * The registrations, by slot, up to the run of READ_AT_ONCE missing keys that ends them (missing
 * slots undefined), read READ_AT_ONCE at a time.
 */
async function readSlots(owners: Kv): Promise<(KvEntry | undefined)[]> {
  const slots: (KvEntry | undefined)[] = [];
  let missing = 0;
  for (let base = 0; base < MAX_SLOTS && missing < READ_AT_ONCE; base += READ_AT_ONCE) {
    const entries = await Promise.all(Array.from({ length: READ_AT_ONCE }, (_, i) => owners.get(slotKey(base + i))));
    for (const e of entries) {
      missing = e ? 0 : missing + 1;
      if (missing === READ_AT_ONCE) break;
      slots.push(e);
    }
  }
  while (slots.length > 0 && slots[slots.length - 1] === undefined) slots.pop();
  return slots;
}

/** A registration as its instance holds it: the slot and the revision it last wrote or read. */
export interface Registration {
  slot: number;
  revision: number;
}

/**
 * Takes this instance's slot: its own from an earlier start, else the lowest free one. The keys are
 * read several at once, and one is written only when this instance has none: an orchestrator slot
 * taken over (its instance `slot-<k>` registered by its earlier owner) wrote one key after another
 * until it found its own, a KV round trip through the bucket's leader each, up to 1 s of a
 * takeover under load for slot-3. Its own is looked for past a gap too (an expired registration),
 * or a restart would register it twice, in the gap and where it was. A create that finds the key
 * taken (a stale read, another instance registering at the same moment) moves on to the next.
 * `created`: this call wrote the key (so its TTL starts now).
 */
async function takeSlot(owners: Kv, instanceId: string): Promise<Registration & { created: boolean }> {
  const slots = await readSlots(owners);
  const mine = slots.findIndex((e) => e?.value === instanceId);
  if (mine >= 0) return { slot: mine, revision: slots[mine]!.revision, created: false };
  const free = slots.findIndex((e) => e === undefined);
  for (let n = free >= 0 ? free : slots.length; n < MAX_SLOTS; n++) {
    const existing = await owners.create(slotKey(n), instanceId);
    if (!existing) {
      // create does not say which revision it wrote, and the first refresh's compare-and-set needs
      // it. A read by any replica (the orchestrator may not read from the leader: nats.conf) may
      // not have the write yet: then the revision is 0, that refresh is refused, and it finds its
      // own key by reads and rewrites it (refreshRegistration).
      const written = await owners.get(slotKey(n));
      return { slot: n, revision: written?.value === instanceId ? written.revision : 0, created: true };
    }
    if (existing.value === instanceId) return { slot: n, revision: existing.revision, created: false };
  }
  throw new Error(`no free orchestrator instance slot in the first ${MAX_SLOTS}`);
}

/** Takes this instance's slot (see takeSlot) and returns its number. */
export async function registerInstance(owners: Kv, instanceId: string): Promise<number> {
  return (await takeSlot(owners, instanceId)).slot;
}

/**
 * Rewrites this instance's registration, so that its TTL starts again: a compare-and-set on the
 * revision it holds, so that a slot another instance took after this one's key expired is never
 * overwritten. Refused (the key expired, or was taken, or rewritten by another process of the same
 * id, as an orchestrator slot's earlier owner), it registers again: its own key if there is one,
 * else the lowest free slot.
 */
export async function refreshRegistration(owners: Kv, instanceId: string, held: Registration): Promise<Registration> {
  const revision = await owners.update(slotKey(held.slot), instanceId, held.revision);
  if (revision !== undefined) return { slot: held.slot, revision };
  const again = await takeSlot(owners, instanceId);
  if (again.created) return again;
  const rewritten = await owners.update(slotKey(again.slot), instanceId, again.revision);
  if (rewritten === undefined) throw new Error(`instance ${instanceId}'s registration in slot ${again.slot} changed while it was rewritten`);
  return { slot: again.slot, revision: rewritten };
}

/**
 * Registers this instance and keeps it registered: at once (a key found from an earlier start may
 * be nearly a TTL old, so it is rewritten right after, in the background), then every
 * REFRESH_EVERY_MS on `clock`'s timers, until closed. A failed refresh goes to `onError` and is
 * tried again REFRESH_RETRY_MS later.
 */
export async function keepRegistered(
  owners: Kv,
  instanceId: string,
  clock: Clock,
  onError: (err: unknown) => void,
): Promise<Closer & { slot: () => number }> {
  const taken = await takeSlot(owners, instanceId);
  // A key found from an earlier start is rewritten at once, but not awaited: the service serves
  // meanwhile (an orchestrator slot's takeover waits for no more round trips than before).
  let held: Registration = taken;
  let closed = false;
  let cancel = (): void => undefined;
  const schedule = (ms: number): void => {
    cancel = setTimerOn(clock, () => {
      refreshRegistration(owners, instanceId, held).then(
        (r) => {
          held = r;
          if (!closed) schedule(REFRESH_EVERY_MS);
        },
        (err: unknown) => {
          if (closed) return;
          onError(err);
          schedule(REFRESH_RETRY_MS);
        },
      );
    }, ms);
  };
  schedule(taken.created ? REFRESH_EVERY_MS : 0);
  return {
    slot: () => held.slot,
    close: async () => {
      closed = true;
      cancel();
    },
  };
}

/** Every instance registered, in slot order (a gap left by an expired registration skipped). */
export async function registeredInstances(owners: Kv): Promise<string[]> {
  return (await readSlots(owners)).flatMap((e) => (e ? [e.value] : []));
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
