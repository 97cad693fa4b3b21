/**
 * Short order numbers: what a shopper reads, says on the phone and types into a search box.
 *
 * `ACME-7K3F-Q9TX` is the first 40 bits of the order id (a name-based UUID, so uniformly spread)
 * in Crockford's base32: no I, L, O or U, and typing `i`, `l` or `o` is forgiven. Nothing is stored
 * for it: the number is computed from the id, and an id is found from its number by a range scan on
 * the id's prefix. Forty bits make two orders share a number once a shop has about a million
 * orders (the birthday bound), so a lookup returns every order with that prefix and the caller
 * narrows by whose orders they are; a shop that needs more digits widens `DIGITS` (old numbers keep
 * resolving: a shorter prefix still matches).
 */
import { z } from 'zod';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DIGITS = 8; // 8 × 5 bits = 40 bits = the first 10 hex digits of the id
const PREFIX = 'ACME';

/** The short number of an order id: `ACME-XXXX-XXXX`. */
export function orderNumberOf(orderId: string): string {
  const hex = orderId.replace(/-/g, '').slice(0, (DIGITS * 5) / 4);
  let value = BigInt(`0x${hex}`);
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

/**
 * The ids an order number stands for, as a half-open range over the canonical (lower-case,
 * hyphenated) UUID text: `from <= orderId < to`. Null when `input` is not an order number.
 */
export function orderIdRange(input: string): { from: string; to: string } | null {
  const digits = digitsOf(input);
  if (digits === null) return null;
  let value = 0n;
  for (const ch of digits) value = (value << 5n) | BigInt(ALPHABET.indexOf(ch));
  const hexDigits = (DIGITS * 5) / 4;
  const from = value.toString(16).padStart(hexDigits, '0');
  const next = value + 1n;
  // The last number's range runs to the end of the id space; 'g' sorts after every hex digit.
  const to = next >> BigInt(DIGITS * 5) ? 'g' : next.toString(16).padStart(hexDigits, '0');
  const hyphenate = (hex: string) => (hex.length > 8 ? `${hex.slice(0, 8)}-${hex.slice(8)}` : hex);
  return { from: hyphenate(from), to: hyphenate(to) };
}

/** True when `orderId` has the number `input`. */
export function hasOrderNumber(orderId: string, input: string): boolean {
  const range = orderIdRange(input);
  return range !== null && orderId.toLowerCase() >= range.from && orderId.toLowerCase() < range.to;
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
