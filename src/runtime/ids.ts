/**
 * Ids. Keys that must agree across retries, redeliveries and instances are *derived* (name-based
 * UUID v5); only genuinely new facts (a message id for a new publication) get a random v4.
 */
import { hash, randomUUID } from 'node:crypto';

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
  const ns = uuidBytes(namespace);
  const input = Buffer.allocUnsafe(16 + Buffer.byteLength(name, 'utf8'));
  ns.copy(input, 0);
  input.write(name, 16, 'utf8');
  const h = hash('sha1', input, 'hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
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

/** The ids of one checkout, all derived from its cart: any instance, any redelivery, gets the same. */
export function checkoutIdsFor(cartId: string): CheckoutIds {
  const known = recentCheckoutIds.get(cartId);
  if (known) return known;
  const checkoutId = uuidv5(cartId, IdNamespace.checkout);
  const ids = Object.freeze({
    checkoutId,
    orderId: uuidv5(cartId, IdNamespace.order),
    reservationId: uuidv5(checkoutId, IdNamespace.reservation),
  });
  if (recentCheckoutIds.size >= 4096) recentCheckoutIds.clear();
  recentCheckoutIds.set(cartId, ids);
  return ids;
}

/** A message id derived from a cause and a purpose, so a re-run of the same step re-sends the same message. */
export const derivedMessageId = (cause: string, purpose: string): string =>
  uuidv5(`${cause}/${purpose}`, IdNamespace.message);

/** W3C trace context: a fresh traceparent, or a child of the given one. */
export function traceparent(parent?: string): string {
  const hex = (n: number) => uuidSource().replace(/-/g, '').slice(0, n);
  const traceId = parent?.split('-')[1] ?? hex(32);
  return `00-${traceId}-${hex(16)}-01`;
}
