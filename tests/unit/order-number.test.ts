import { describe, expect, it } from 'vitest';
import { hasOrderNumber, isOrderNumber, orderIdRange, orderNumberHex, orderNumberOf } from '../../src/contracts/order-number.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { v7At } from '../support/v7.ts';

describe('short order numbers', () => {
  const orderId = checkoutIdsFor('cart-1').orderId;

  it('reads ACME-XXXX-XXXX in Crockford base32 and finds its own id', () => {
    const number = orderNumberOf(orderId);
    expect(number).toMatch(/^ACME-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(hasOrderNumber(orderId, number)).toBe(true);
  });

  it('forgives case, spaces, a missing prefix and the letters I, L and O', () => {
    expect(orderNumberOf('00000000-0000-5000-8000-000000000000')).toBe('ACME-0000-0000');
    expect(orderIdRange('acme 0000 0000')).toEqual(orderIdRange('ACME-0000-0000'));
    expect(orderIdRange('oooo-oooo')).toEqual(orderIdRange('ACME-0000-0000'));
    expect(orderIdRange('ACME-1111-1111')).toEqual(orderIdRange('ACME-iiii-llll'));
  });

  it('rejects what is not a number', () => {
    expect(isOrderNumber('ACME-7K3F')).toBe(false);
    expect(isOrderNumber('ACME-7K3F-Q9TU')).toBe(false); // U is not a Crockford digit
    expect(isOrderNumber(orderId)).toBe(false);
    expect(orderIdRange('nope')).toBeNull();
  });

  it('maps the number of an order id made before time-ordered ones (a v5) to exactly the ids that start with its 40 bits', () => {
    for (let i = 0; i < 200; i++) {
      const id = checkoutIdsFor(`cart-${i}`).orderId;
      const range = orderIdRange(orderNumberOf(id))!;
      expect(id >= range.from && id < range.to).toBe(true);
      expect(range.from).toBe(id.slice(0, 11));
    }
    expect(orderIdRange('ACME-ZZZZ-ZZZZ')).toEqual({ from: 'ffffffff-ff', to: 'g' });
    expect(orderIdRange('ACME-0000-0001')).toEqual({ from: '00000000-01', to: '00000000-02' });
  });

  it('reads the number of a time-ordered order id (a v8) from the hash bits of its last group, not its time', () => {
    const early = v7At();
    const ids = Array.from({ length: 200 }, () => checkoutIdsFor(v7At()).orderId);
    for (const id of ids) {
      expect(id[14]).toBe('8');
      expect(orderNumberHex(orderNumberOf(id))).toBe(id.slice(24, 34));
      expect(hasOrderNumber(id, orderNumberOf(id))).toBe(true);
    }
    // Two hundred orders made within a millisecond or a few, two hundred numbers.
    expect(new Set(ids.map(orderNumberOf)).size).toBe(200);
    expect(hasOrderNumber(checkoutIdsFor(early).orderId, orderNumberOf(ids[0]!))).toBe(false);
  });
});
