/**
 * Short order numbers: what a shopper reads, says on the phone and types into a search box.
 *
 * `ACME-7K3F-Q9TX` is 40 bits of the order id's hash in Crockford's base32: no I, L, O or U, and
 * typing `i`, `l` or `o` is forgiven. The number is computed from the id, never chosen. Which 40
 * bits: an order id derived from a time-ordered cart (a UUID v8, src/runtime/ids.ts) starts with
 * the cart's time, so its number is the first 40 bits of its last group (SHA-1 bits); any other
 * order id (a v5, every order made before time-ordered order ids) is uniformly spread from its
 * first bit, and its number is its first 40 bits, as it always was. An order is found from its
 * number by the Order Service's index of numbers, and an older order also by a range scan on its
 * id's prefix (`orderIdRange`). Forty bits make two orders share a number once a shop has about a
 * million orders (the birthday bound), so a lookup returns every order with that number and the
 * caller narrows by whose orders they are; a shop that needs more digits widens `DIGITS`.
 */
import { z } from 'zod';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DIGITS = 8; // 8 × 5 bits = 40 bits = the first 10 hex digits of the id
const PREFIX = 'ACME';

/** The 40 bits of an order id its number stands for, as 10 lower-case hex digits (see the file's opening). */
export function orderNumberHexOf(orderId: string): string {
  const id = orderId.toLowerCase();
  if (id.length === 36 && id[14] === '8') return id.slice(24, 24 + (DIGITS * 5) / 4);
  return id.replace(/-/g, '').slice(0, (DIGITS * 5) / 4);
}

/** The short number of an order id: `ACME-XXXX-XXXX`. */
export function orderNumberOf(orderId: string): string {
  let value = BigInt(`0x${orderNumberHexOf(orderId)}`);
  let digits = '';
  for (let i = 0; i < DIGITS; i++) {
    digits = ALPHABET[Number(value & 31n)]! + digits;
    value >>= 5n;
  }
  return `${PREFIX}-${digits.slice(0, 4)}-${digits.slice(4)}`;
}

/** Normalises what a person typed: case, spaces and hyphens ignored; I/L read as 1, O as 0. */
function digitsOf(input: string): string | null {
  let text = input.trim().toUpperCase().replace(/[\s-]/g, '');
  if (text.startsWith(PREFIX)) text = text.slice(PREFIX.length);
  text = text.replace(/[IL]/g, '1').replace(/O/g, '0');
  if (text.length !== DIGITS) return null;
  for (const ch of text) if (!ALPHABET.includes(ch)) return null;
  return text;
}

/** What a person typed, written as the shop writes it (`ACME-XXXX-XXXX`); null when it is not an order number. */
export function canonicalOrderNumber(input: string): string | null {
  const digits = digitsOf(input);
  return digits === null ? null : `${PREFIX}-${digits.slice(0, 4)}-${digits.slice(4)}`;
}

/** True when `input` reads as a short order number (with or without the `ACME-` prefix). */
export const isOrderNumber = (input: string): boolean => digitsOf(input) !== null;

/** What a person typed as the 40 bits it stands for (10 lower-case hex digits); null when it is not an order number. */
export function orderNumberHex(input: string): string | null {
  const digits = digitsOf(input);
  if (digits === null) return null;
  let value = 0n;
  for (const ch of digits) value = (value << 5n) | BigInt(ALPHABET.indexOf(ch));
  return value.toString(16).padStart((DIGITS * 5) / 4, '0');
}

/**
 * The order ids made before time-ordered order ids (v5) that an order number stands for, as a
 * half-open range over the canonical (lower-case, hyphenated) UUID text: `from <= orderId < to`.
 * Null when `input` is not an order number. A v8 order id is found by `orderNumberHex` instead.
 */
export function orderIdRange(input: string): { from: string; to: string } | null {
  const hex = orderNumberHex(input);
  if (hex === null) return null;
  const next = BigInt(`0x${hex}`) + 1n;
  // The last number's range runs to the end of the id space; 'g' sorts after every hex digit.
  const to = next >> BigInt(DIGITS * 5) ? 'g' : next.toString(16).padStart(hex.length, '0');
  const hyphenate = (h: string) => (h.length > 8 ? `${h.slice(0, 8)}-${h.slice(8)}` : h);
  return { from: hyphenate(hex), to: hyphenate(to) };
}

/** True when `orderId` has the number `input`. */
export function hasOrderNumber(orderId: string, input: string): boolean {
  const hex = orderNumberHex(input);
  return hex !== null && orderNumberHexOf(orderId) === hex;
}

/** An order number as the shop writes it (`orderNumberOf`'s output): what documents carry. */
export const CanonicalOrderNumber = z
  .string()
  .regex(/^ACME-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/)
  .describe('Short order number derived from the order id (ACME-XXXX-XXXX), shown to the shopper');

/** An order number as a person may type it (case, hyphens and I/L/O forgiven): what lookups accept. */
export const OrderNumber = z
  .string()
  .refine(isOrderNumber, { message: 'not an order number: expected ACME-XXXX-XXXX' })
  .describe('Short order number derived from the order id, e.g. ACME-7K3F-Q9TX');
