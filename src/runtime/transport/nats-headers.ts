/**
 * A message's headers on the wire (`NATS/1.0\r\nk: v\r\n...\r\n\r\n`), written and read without
 * nats.js's MsgHdrs bookkeeping. Its `set` (delete, then append) and its decoder's `append` look
 * each key up in a fresh array of every key and canonicalise it, character by character: for a
 * command's dozen CloudEvents headers about 8 µs to encode and 9 µs to decode on this machine,
 * against 1.4 and 2.6 µs done here, and every command, reply and event pays both (docs/benchmarks.md,
 * "The NATS path"). The bytes are the same as nats.js's: keys as given, values trimmed, the first
 * value of a repeated key read. What nats.js refuses it still refuses (a value with CR or LF, a key
 * with a character a header name cannot have): those go through nats.js's own `append`, which throws.
 *
 * Both directions reach one field of nats.js's classes that its public types do not name: the
 * MsgHdrs' `headers` map, and a received message's raw bytes and header length. Where they are
 * not what this version has, the code takes nats.js's public path instead, so an upgrade that moves
 * them costs time, not correctness (tests/unit/nats-headers.test.ts compares both paths).
 */
import { headers as natsHeaders, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import type { Headers } from '../../contracts/headers.ts';

/** A header name: printable ASCII but the colon (RFC 822, as nats.js checks it). */
const VALID_KEY = /^[!-9;-~]+$/;
const CR_OR_LF = /[\r\n]/;
const STATUS_LINE = 'NATS/1.0';
const decoder = new TextDecoder();

/** The headers to send, or undefined for none. */
export function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const keys = Object.keys(h);
  if (keys.length === 0) return undefined;
  const out = natsHeaders();
  const map = (out as unknown as { headers?: unknown }).headers;
  for (const k of keys) {
    const v = h[k] ?? '';
    // Keys of an object are distinct, so appending is setting; nats.js's append throws on what is invalid.
    if (map instanceof Map && VALID_KEY.test(k) && !CR_OR_LF.test(v)) (map as Map<string, string[]>).set(k, [v.trim()]);
    else out.append(k, v);
  }
  return out;
}

/** nats.js's headers as the transport's: the first value of each key. */
export function fromNatsHeaders(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (!h) return out;
  for (const [k, v] of h) {
    const first = v[0];
    if (first !== undefined) out[k] = first;
  }
  return out;
}

/** A received message's headers and its status code (503: nobody answered the request; 0: none). */
export interface ReadHeaders {
  headers: Headers;
  code: number;
}

/** Reads a received message's headers (a core message, or a JetStream delivery). */
export function readHeaders(m: Msg | JsMsg): ReadHeaders {
  const msg = ((m as { msg?: Msg }).msg ?? m) as Msg & { _msg?: { hdr?: unknown }; _rdata?: unknown; _headers?: unknown };
  const hdr = msg._msg?.hdr;
  const raw = msg._rdata;
  if (typeof hdr === 'number' && raw instanceof Uint8Array && msg._headers === undefined) {
    if (hdr <= 0) return { headers: {}, code: 0 };
    const parsed = parseHeaderBlock(decoder.decode(raw.subarray(0, hdr)));
    if (parsed) return { headers: parsed, code: 0 };
  }
  const h = m.headers;
  return h ? { headers: fromNatsHeaders(h), code: h.code } : { headers: {}, code: 0 };
}

/**
 * The header block's keys and values, as nats.js's decoder reads them, or undefined when its first
 * line is not the bare `NATS/1.0` (a status such as `NATS/1.0 503`: nats.js reads those).
 */
export function parseHeaderBlock(s: string): Headers | undefined {
  const first = s.indexOf('\r\n');
  if ((first === -1 ? s : s.slice(0, first)) !== STATUS_LINE) return undefined;
  const out: Headers = {};
  if (first === -1) return out;
  let at = first + 2;
  while (at < s.length) {
    let end = s.indexOf('\r\n', at);
    if (end === -1) end = s.length;
    const colon = s.indexOf(':', at);
    if (colon !== -1 && colon < end) {
      const k = s.slice(at, colon);
      if (!VALID_KEY.test(k)) return undefined; // nats.js refuses it, as before
      if (!Object.hasOwn(out, k)) out[k] = s.slice(colon + 1, end).trim();
    }
    at = end + 2;
  }
  return out;
}
