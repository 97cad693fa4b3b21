/**
 * The transport writes and reads NATS headers itself (src/runtime/transport/nats-headers.ts); nats.js's
 * own MsgHdrs is the oracle: the same bytes out, the same keys and values in, the same refusals.
 */
import { headers as natsHeaders, type Msg } from '@nats-io/transport-node';
import { MsgImpl } from '@nats-io/nats-core/internal';
import { describe, expect, it } from 'vitest';
import { fromNatsHeaders, parseHeaderBlock, readHeaders, toNatsHeaders } from '../../src/runtime/transport/nats-headers.ts';

const te = new TextEncoder();

/** What nats.js sends for these headers, set one by one as the transport used to. */
function natsJsBytes(h: Record<string, string>): Uint8Array {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return (out as unknown as { encode(): Uint8Array }).encode();
}

const bytesOf = (h: Record<string, string>): Uint8Array => (toNatsHeaders(h) as unknown as { encode(): Uint8Array }).encode();

/** A received message as nats.js's parser hands it to a subscription: header block, then body. */
function received(headerBlock: Uint8Array | undefined, body = '{"ok":true}'): Msg & { _headers?: unknown } {
  const data = te.encode(body);
  const raw = headerBlock ? new Uint8Array([...headerBlock, ...data]) : data;
  const hdr = headerBlock ? headerBlock.length : -1;
  return new MsgImpl({ subject: te.encode('s.x'), sid: 1, hdr, size: raw.length }, raw, { publish: () => undefined });
}

const command: Record<string, string> = {
  'ce-id': '7f1c0e4a-1111-5000-8000-000000000000',
  'ce-type': 'com.acme.ordering.checkout.reserve-inventory',
  'ce-source': 'checkout-orchestrator',
  'ce-time': '2026-12-06T21:00:00.000Z',
  'ce-specversion': '1.0',
  'ce-idempotencykey': 'c0ffee00-0000-5000-8000-000000000000:reserve-inventory',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  'content-type': 'application/json',
  'Nats-Msg-Id': 'x:1',
  'x-empty': '',
  'x-padded': '  kept inside  ',
};

describe('toNatsHeaders', () => {
  it('writes the bytes nats.js writes, values trimmed', () => {
    expect(new TextDecoder().decode(bytesOf(command))).toBe(new TextDecoder().decode(natsJsBytes(command)));
    expect(toNatsHeaders(command)!.get('x-padded')).toBe('kept inside');
  });

  it('sends no headers for none', () => {
    expect(toNatsHeaders(undefined)).toBeUndefined();
    expect(toNatsHeaders({})).toBeUndefined();
  });

  it('refuses a value with CR or LF and a key a header name cannot be, as nats.js does', () => {
    expect(() => toNatsHeaders({ 'ce-id': 'a\r\nx-injected: 1' })).toThrow(/\\r or \\n/);
    expect(() => toNatsHeaders({ 'bad key': 'v' })).toThrow(/not a valid character/);
    expect(() => toNatsHeaders({ 'a:b': 'v' })).toThrow(/not a valid character/);
  });
});

describe('readHeaders', () => {
  it('reads what nats.js reads from the wire, without nats.js decoding them', () => {
    const msg = received(natsJsBytes(command));
    const mine = readHeaders(msg);
    expect(msg._headers).toBeUndefined(); // nats.js's decoder was not asked
    expect(mine).toEqual({ headers: fromNatsHeaders(received(natsJsBytes(command)).headers), code: 0 });
    expect(mine.headers['x-padded']).toBe('kept inside');
    expect(mine.headers['x-empty']).toBe('');
  });

  it('reads a message without headers as none', () => {
    expect(readHeaders(received(undefined))).toEqual({ headers: {}, code: 0 });
  });

  it('keeps the first of a repeated key, as the transport always read them', () => {
    const block = te.encode('NATS/1.0\r\nk: first\r\nk: second\r\nconstructor: c\r\n\r\n');
    expect(readHeaders(received(block)).headers).toEqual({ k: 'first', constructor: 'c' });
    expect(fromNatsHeaders(received(block).headers)).toEqual({ k: 'first', constructor: 'c' });
  });

  it("leaves a status line (the server's 503 for a request nobody answers) to nats.js", () => {
    const block = te.encode('NATS/1.0 503\r\n\r\n');
    expect(parseHeaderBlock('NATS/1.0 503\r\n\r\n')).toBeUndefined();
    expect(readHeaders(received(block))).toEqual({ headers: {}, code: 503 });
  });

  it('reads a JetStream delivery through the message it wraps', () => {
    const inner = received(natsJsBytes(command));
    const delivery = { msg: inner, get headers() { return inner.headers; } };
    expect(readHeaders(delivery as unknown as Msg).headers).toEqual(fromNatsHeaders(received(natsJsBytes(command)).headers));
    expect(inner._headers).toBeUndefined();
  });

  it('leaves a key nats.js refuses to nats.js, which throws as before', () => {
    const block = te.encode('NATS/1.0\r\nbad key: v\r\n\r\n');
    expect(parseHeaderBlock('NATS/1.0\r\nbad key: v\r\n\r\n')).toBeUndefined();
    expect(() => readHeaders(received(block))).toThrow(/not a valid character/);
  });
});
