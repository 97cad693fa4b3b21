/**
 * Building blocks shared by every message schema.
 *
 * The catalog's schema.json files are the wire contract, checked with ajv + ajv-formats (draft-07).
 * These zod types are written so that zod accepts a payload exactly when ajv accepts it
 * (tests/unit/contracts.test.ts checks this), with one deliberate exception: integers must be safe
 * integers (|n| <= 2^53 - 1). JSON numbers beyond that cannot be held exactly by JavaScript, so an
 * amount of money that large is refused rather than silently rounded.
 *
 * Unknown keys: no catalog schema forbids additional properties, so a payload with extra fields is
 * accepted. `z.object` strips them from the parsed value, so our typed values hold only known fields.
 */
import { z } from 'zod';

/** ajv-formats' `uuid`: any hex layout 8-4-4-4-12, either case, with an optional `urn:uuid:` prefix. */
const UUID_RE = /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

// ajv-formats' full-mode `date-time` (RFC 3339 section 5.6, as ajv-formats reads it), ported as is:
// `T`, `t` or any whitespace between date and time; a time zone is required (`Z`, `z`, `+hh`,
// `+hhmm` or `+hh:mm`); days per month and leap years are checked; 23:59:60 UTC is a leap second.
const DATE_RE = /^(\d\d\d\d)-(\d\d)-(\d\d)$/;
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const TIME_RE = /^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?$/i;
const DATE_TIME_SEPARATOR = /t|\s/i;

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function isFullDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const maxDay = month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month] ?? 0);
  return month >= 1 && month <= 12 && day >= 1 && day <= maxDay;
}

function isTimeWithZone(s: string): boolean {
  const m = TIME_RE.exec(s);
  if (!m) return false;
  const hr = Number(m[1]);
  const min = Number(m[2]);
  const sec = Number(m[3]);
  const tz = m[4];
  const tzSign = m[5] === '-' ? -1 : 1;
  const tzH = Number(m[6] ?? 0);
  const tzM = Number(m[7] ?? 0);
  if (tzH > 23 || tzM > 59 || !tz) return false;
  if (hr <= 23 && min <= 59 && sec < 60) return true;
  // A leap second is only valid at 23:59:60 UTC.
  const utcMin = min - tzM * tzSign;
  const utcHr = hr - tzH * tzSign - (utcMin < 0 ? 1 : 0);
  return (utcHr === 23 || utcHr === -1) && (utcMin === 59 || utcMin === -1) && sec < 61;
}

export function isDateTime(s: string): boolean {
  const parts = s.split(DATE_TIME_SEPARATOR);
  const [date, time] = parts;
  return (
    parts.length === 2 && date !== undefined && time !== undefined && isFullDate(date) && isTimeWithZone(time)
  );
}

/** `{"type": "string", "format": "uuid"}` */
export const Uuid = z.stringFormat('uuid', isUuid);
export type Uuid = z.infer<typeof Uuid>;

/** `{"type": "string", "format": "date-time"}`. Produce it with `new Date().toISOString()`. */
export const DateTime = z.stringFormat('date-time', isDateTime);
export type DateTime = z.infer<typeof DateTime>;

/** ISO 4217 code: `{"type": "string", "pattern": "^[A-Z]{3}$"}` */
export const Currency = z.string().regex(/^[A-Z]{3}$/);
export type Currency = z.infer<typeof Currency>;

/** An amount in minor units (e.g. cents). The catalog leaves most totals and unit prices unbounded. */
export const Money = z.int();
export type Money = z.infer<typeof Money>;

/** An amount in minor units where the catalog says `"minimum": 0`. */
export const NonNegativeMoney = z.int().min(0);
export type NonNegativeMoney = z.infer<typeof NonNegativeMoney>;

/** `{"type": "integer", "minimum": 1}` */
export const Quantity = z.int().min(1);
export type Quantity = z.infer<typeof Quantity>;

/** `{"type": "integer", "minimum": 0}`: stock counts. */
export const Count = z.int().min(0);
export type Count = z.infer<typeof Count>;

/** `{productId, quantity}`: reserve-inventory and inventory-reserved items. */
export const LineItem = z.object({
  productId: Uuid,
  quantity: Quantity,
});
export type LineItem = z.infer<typeof LineItem>;

/**
 * `{productId, quantity, unitPrice}`: cart-checked-out, create-order, get-order and Cart items.
 * `sku` is our addition (optional, so the catalog's messages still parse): the Cart API puts the
 * product's SKU on the line, and it rides the saga to create-order, whose order-created keys items
 * by SKU, so the Order Service need not ask the Cart API for it.
 */
export const PricedLineItem = z.object({
  productId: Uuid,
  quantity: Quantity,
  unitPrice: Money,
  sku: z.string().min(1).optional(),
});
export type PricedLineItem = z.infer<typeof PricedLineItem>;

/** `{sku, quantity, unitPrice}`: order-created items (the 7-field OrderCreated keys items by SKU). */
export const SkuLineItem = z.object({
  sku: z.string(),
  quantity: Quantity,
  unitPrice: Money,
});
export type SkuLineItem = z.infer<typeof SkuLineItem>;

/**
 * The body of every error reply (the `x-error-code` header is set as well), and of every HTTP
 * error: the Cart API's `Error` schema in openapi.yml.
 */
export const ErrorBody = z.object({
  code: z.string(),
  message: z.string(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** Every message, from the catalog or added by us, is at version 1.0.0. */
export const MESSAGE_VERSION = '1.0.0';
