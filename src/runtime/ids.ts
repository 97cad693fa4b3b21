/**
 * Ids. Keys that must agree across retries, redeliveries and instances are *derived* (name-based
 * UUID v5); only genuinely new facts (a message id for a new publication) get a random v4.
 *
 * Time order. The business records are rows keyed by these ids (each store's actors, payments,
 * reservations, the status documents), and a random key puts each new row on a random leaf of a
 * B-tree that grows with every checkout: at 30,000 checkouts nearly every index page was rewritten
 * between two WAL checkpoints. A client that makes its cart ids as UUID v7 (`uuidv7`: the
 * storefront and the bench do) gets ids whose first 48 bits are the cart's creation time, and the
 * ids derived from such a cart (`derivedId`) keep those 48 bits (a UUID version 8: time, then the
 * SHA-1 bits of a v5), so a checkout's rows land where the rows of carts made at about the same
 * time are. A cart id of any other version derives exactly the v5 it always did.
 */
import { hash, randomBytes, randomUUID } from 'node:crypto';

/** Namespaces for derived ids. Changing one orphans every id derived from it. */
export const IdNamespace = {
  order: '6f1c2a52-7f0e-4c38-9a59-1c1f8c2a6b01',
  checkout: '0d7a3f9e-5b2c-4e61-8a4f-2b9c7d1e3f02',
  reservation: 'a3e5c7d9-1b2f-4a6c-8e0d-3f5a7c9e1b03',
  authorization: 'c1d3e5f7-2a4b-4c6d-8e0f-1a3b5c7d9e04',
  message: 'e9f1a3b5-c7d9-4e1f-a3b5-c7d9e1f3a505',
} as const;

/** Namespaces are few and fixed: parse each once (parsing was a fifth of the cost of an id). */
const namespaceBytes = new Map<string, Buffer>();
function uuidBytes(uuid: string): Buffer {
  let bytes = namespaceBytes.get(uuid);
  if (!bytes) {
    bytes = Buffer.from(uuid.replace(/-/g, ''), 'hex');
    if (namespaceBytes.size < 64) namespaceBytes.set(uuid, bytes);
  }
  return bytes;
}

/**
 * RFC 9562 name-based UUID (version 5, SHA-1). One-shot `crypto.hash` over namespace + name: half
 * the cost of a createHash() object per id, and a checkout derives a dozen message ids.
 */
export function uuidv5(name: string, namespace: string): string {
  const h = sha1Hex(name, namespace);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variantOf(h)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The hash's input is written into one buffer kept for it (`crypto.hash` is synchronous): a new
 * buffer per id, sized by `Buffer.byteLength`, cost about as much as the SHA-1 itself (all derived
 * ids: 163 -> 125 µs per checkout in a profile of an embedded run). A name that could
 * need more than the buffer holds (3 bytes a UTF-16 unit at most) gets a buffer of its own.
 */
const SCRATCH_NAME_UNITS = 1024;
const scratch = Buffer.allocUnsafe(16 + 3 * SCRATCH_NAME_UNITS);

function sha1Hex(name: string, namespace: string): string {
  const ns = uuidBytes(namespace);
  if (name.length > SCRATCH_NAME_UNITS) {
    const input = Buffer.allocUnsafe(16 + Buffer.byteLength(name, 'utf8'));
    ns.copy(input, 0);
    input.write(name, 16, 'utf8');
    return hash('sha1', input, 'hex');
  }
  ns.copy(scratch, 0);
  const n = scratch.write(name, 16, 'utf8');
  return hash('sha1', scratch.subarray(0, 16 + n), 'hex');
}

/** The RFC variant (binary 10) in place of the hash's 17th hex digit's two high bits. */
const variantOf = (h: string): string => ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);

/** The 48-bit time prefix (12 hex digits) of a UUID version 7 or 8; undefined for any other. */
function timePrefixOf(id: string): string | undefined {
  if (id.length !== 36 || id[8] !== '-' || id[13] !== '-') return undefined;
  const version = id[14];
  if (version !== '7' && version !== '8') return undefined;
  return `${id.slice(0, 8)}${id.slice(9, 13)}`.toLowerCase();
}

/** The time in milliseconds a UUID version 7 or 8 carries in its first 48 bits; undefined for any other. */
export function timeOf(id: string): number | undefined {
  const prefix = timePrefixOf(id);
  return prefix === undefined ? undefined : parseInt(prefix, 16);
}

/**
 * An id derived from `source` (and `name`, by default the source itself) in `namespace`: the same
 * for every caller, as `uuidv5(name, namespace)`. When `source` is time-ordered (version 7, or a
 * version 8 made here) the result keeps its first 48 bits and is a version 8 (RFC 9562's custom
 * layout: the source's time, then bits of the same SHA-1), so that keys derived from a cart sort
 * with the cart's creation time. From any other source it is exactly the v5.
 */
export function derivedId(source: string, namespace: string, name: string = source): string {
  const prefix = timePrefixOf(source);
  if (prefix === undefined) return uuidv5(name, namespace);
  const h = sha1Hex(name, namespace);
  return `${prefix.slice(0, 8)}-${prefix.slice(8, 12)}-8${h.slice(13, 16)}-${variantOf(h)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

let v7LastMs = 0;
let v7Counter = 0;

/**
 * RFC 9562 UUID version 7: 48 bits of Unix time in milliseconds, a 12-bit counter (rand_a, started
 * at a random value below 2048 each new millisecond), then 62 random bits. Ids made by one process
 * sort in the order they were made, even within a millisecond. For the ids a client makes for new
 * things (a cart's, see the file's opening); the services derive theirs.
 */
export function uuidv7(now: number = Date.now()): string {
  const rand = randomBytes(10);
  let ms = Math.max(0, Math.floor(now));
  if (ms <= v7LastMs) {
    ms = v7LastMs;
    v7Counter++;
    if (v7Counter > 0xfff) {
      ms++;
      v7Counter = 0;
    }
  } else {
    v7Counter = rand.readUInt16BE(8) & 0x7ff;
  }
  v7LastMs = ms;
  const t = ms.toString(16).padStart(12, '0');
  const r = rand.toString('hex', 0, 8);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${v7Counter.toString(16).padStart(3, '0')}-${variantOf(r)}${r.slice(1, 4)}-${r.slice(4, 16)}`;
}

/** Where genuinely new ids come from: `crypto.randomUUID`, or the simulator's seeded source. */
let uuidSource: () => string = randomUUID;

/**
 * Swaps the source of random UUIDs (v4) for the duration of `run`; the deterministic simulator
 * uses it so that a seed gives the same ids. Derived ids (v5) are untouched.
 */
export async function withUuidSource<T>(source: () => string, run: () => Promise<T>): Promise<T> {
  const previous = uuidSource;
  uuidSource = source;
  try {
    return await run();
  } finally {
    uuidSource = previous;
  }
}

export const newId = (): string => uuidSource();

export interface CheckoutIds {
  readonly checkoutId: string;
  readonly orderId: string;
  readonly reservationId: string;
}

/** Recently derived checkout ids: every step of a saga asks again, and three SHA-1s each time added up. */
const recentCheckoutIds = new Map<string, CheckoutIds>();

/**
 * Carts made from this instant on (the time in a v7 cart id) get a time-ordered order id. An order
 * of a cart made before it has the v5 id it was given then, and a cart's document, which derives
 * its order's id again whenever it is read, must keep naming that one.
 */
export const ORDER_IDS_IN_TIME_ORDER_FROM = Date.UTC(2026, 11, 6, 21, 0);

/**
 * The ids of one checkout, all derived from its cart: any instance, any redelivery, gets the same.
 * Each keeps a time-ordered cart's time (`derivedId`): the order's too for a cart made from
 * `ORDER_IDS_IN_TIME_ORDER_FROM` on, whose short number is then read from its hash bits, not its
 * first ones (contracts/order-number.ts).
 */
export function checkoutIdsFor(cartId: string): CheckoutIds {
  const known = recentCheckoutIds.get(cartId);
  if (known) return known;
  const checkoutId = derivedId(cartId, IdNamespace.checkout);
  const ids = Object.freeze({
    checkoutId,
    orderId: (timeOf(cartId) ?? 0) >= ORDER_IDS_IN_TIME_ORDER_FROM ? derivedId(cartId, IdNamespace.order) : uuidv5(cartId, IdNamespace.order),
    reservationId: derivedId(checkoutId, IdNamespace.reservation),
  });
  if (recentCheckoutIds.size >= 4096) recentCheckoutIds.clear();
  recentCheckoutIds.set(cartId, ids);
  return ids;
}

/** A message id derived from a cause and a purpose, so a re-run of the same step re-sends the same message. */
export const derivedMessageId = (cause: string, purpose: string): string =>
  uuidv5(`${cause}/${purpose}`, IdNamespace.message);

/**
 * W3C trace context: a fresh traceparent, or a child of the given one. Made for every message a
 * handler sends (about 15 per checkout): a UUID's hex digits by slicing around its dashes, not by a
 * regular expression (which cost about 5 µs a call); the same digits either way.
 */
export function traceparent(parent?: string): string {
  const traceId = (parent === undefined ? undefined : secondField(parent)) ?? hexOf(uuidSource(), 32);
  return `00-${traceId}-${hexOf(uuidSource(), 16)}-01`;
}

/** The first `n` hex digits of a UUID, its dashes left out. */
function hexOf(uuid: string, n: 16 | 32): string {
  if (uuid.length !== 36 || uuid[8] !== '-' || uuid[13] !== '-' || uuid[18] !== '-' || uuid[23] !== '-') return uuid.replace(/-/g, '').slice(0, n);
  const head = uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(14, 18);
  return n === 16 ? head : head + uuid.slice(19, 23) + uuid.slice(24);
}

/** `s.split('-')[1]`, without the array. */
function secondField(s: string): string | undefined {
  const a = s.indexOf('-');
  if (a < 0) return undefined;
  const b = s.indexOf('-', a + 1);
  return b < 0 ? s.slice(a + 1) : s.slice(a + 1, b);
}
