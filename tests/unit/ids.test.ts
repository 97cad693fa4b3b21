import { describe, expect, it } from 'vitest';
import { checkoutIdsFor, derivedMessageId, uuidv5 } from '../../src/runtime/ids.ts';

describe('derived ids', () => {
  it('uuidv5 matches RFC 9562 (DNS namespace, www.example.com)', () => {
    expect(uuidv5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('encodes names as UTF-8 and always sets version 5 and the RFC variant', () => {
    for (const name of ['', 'ünïcödé', 'checkout/x/1/0/kv/checkouts/abc', 'a'.repeat(500)]) {
      expect(uuidv5(name, '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(uuidv5('ü', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).not.toBe(uuidv5('u', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'));
  });

  it('derives the same checkout ids and message ids every time, cached or not', () => {
    const first = checkoutIdsFor('cart-1');
    expect(checkoutIdsFor('cart-1')).toEqual(first);
    expect(new Set(Object.values(first)).size).toBe(3);
    expect(derivedMessageId('checkout/a/1', '0/reserve')).toBe(derivedMessageId('checkout/a/1', '0/reserve'));
    expect(derivedMessageId('checkout/a/1', '0/reserve')).not.toBe(derivedMessageId('checkout/a/2', '0/reserve'));
  });
});
