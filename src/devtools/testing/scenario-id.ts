/**
 * Stable scenario ids: a scenario is named by its event path, so its id does not move when another
 * scenario is added, removed or reordered (a running number did, and the tests' "recipe N" never
 * matched the plan's "N."). The id hashes the path's event labels, e.g. `checkout-7k3fq9`; the
 * plan pages, the test names and `npm run paths -- --run <id>` all use it.
 */
import { createHash } from 'node:crypto';
import type { EventObject } from 'xstate';

const isTime = (k: string) => k === 'now' || k.endsWith('At');

/** A value as JSON with its keys sorted and its times left out, at any depth. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.entries(v as Record<string, unknown>)
      .filter(([k]) => !isTime(k))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${k}:${stable(x)}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

/**
 * An event as its scenario id sees it: its type, e.g. `order.created`, or its type and its fields
 * (keys sorted, times such as `now` and `…At` left out, so that a sampler may move its clock
 * without renaming every scenario), e.g. `timer.expired{timer:"createOrder"}`.
 */
export function eventKey(e: EventObject): string {
  const { type, ...rest } = e as unknown as Record<string, unknown>;
  const fields = stable(rest);
  return fields === '{}' ? String(type) : `${String(type)}${fields}`;
}

const base32 = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford's alphabet, lower case

/** The scenario id of an event path of the named machine: `<machine>-` and six base32 digits (30 bits). */
export function scenarioId(machine: string, events: readonly EventObject[]): string {
  const digest = createHash('sha256').update(events.map(eventKey).join(' ')).digest();
  let n = digest.readUInt32BE(0) >>> 2;
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = base32[n & 31]! + out;
    n >>>= 5;
  }
  return `${machine}-${out}`;
}
