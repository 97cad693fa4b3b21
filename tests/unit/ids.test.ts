import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkoutIdsFor, derivedId, derivedMessageId, IdNamespace, ORDER_IDS_IN_TIME_ORDER_FROM, timeOf, traceparent, uuidv5, uuidv7, withUuidSource } from '../../src/runtime/ids.ts';
import { v7At } from '../support/v7.ts';
import { isUuid } from '../../src/contracts/messages/common.ts';
import { orderNumberOf } from '../../src/contracts/order-number.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

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

  describe('time order', () => {
    it('uuidv7 carries the time in its first 48 bits and sorts in the order made, within a millisecond too', async () => {
      const at = Date.UTC(2026, 11, 6, 3, 0, 0);
      const ids = Array.from({ length: 2_000 }, () => uuidv7(at));
      for (const id of ids) expect(id).toMatch(V7);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual(ids);
      expect(parseInt(ids[0]!.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
      const storefrontLib: string = '../../src/gateway/public/lib.js';
      const storefront = (await import(storefrontLib)) as { uuidv7: () => string };
      const browser = storefront.uuidv7();
      expect(browser).toMatch(V7);
      expect(Math.abs(parseInt(browser.replace(/-/g, '').slice(0, 12), 16) - Date.now())).toBeLessThan(60_000);
    });

    it('an id derived from a time-ordered id keeps its 48 bits of time, and is still derived', () => {
      const cart = uuidv7();
      const ids = checkoutIdsFor(cart);
      for (const id of [ids.checkoutId, ids.orderId, ids.reservationId]) {
        expect(id).toMatch(V8);
        expect(id.slice(0, 13)).toBe(cart.slice(0, 13));
      }
      expect(derivedId(cart, IdNamespace.checkout)).toBe(ids.checkoutId);
      expect(derivedId(cart, IdNamespace.checkout)).not.toBe(derivedId(cart, IdNamespace.order));
      for (const id of [ids.checkoutId, ids.orderId, ids.reservationId]) expect(isUuid(id)).toBe(true);
      expect(ids.orderId).toBe(derivedId(cart, IdNamespace.order));
      // The order number comes from the hash bits, so orders of the same millisecond differ.
      expect(orderNumberOf(ids.orderId)).not.toBe(orderNumberOf(checkoutIdsFor(uuidv7()).orderId));
    });

    it('an order of a time-ordered cart made before order ids were time-ordered keeps the v5 id it was given', () => {
      const before = v7At(ORDER_IDS_IN_TIME_ORDER_FROM - 1);
      const from = v7At(ORDER_IDS_IN_TIME_ORDER_FROM);
      expect(checkoutIdsFor(before).orderId).toBe(uuidv5(before, IdNamespace.order));
      expect(checkoutIdsFor(before).checkoutId).toMatch(V8);
      expect(checkoutIdsFor(from).orderId).toBe(derivedId(from, IdNamespace.order));
      expect(timeOf(from)).toBe(ORDER_IDS_IN_TIME_ORDER_FROM);
      expect(timeOf('0b7f3c2e-9a41-4d6b-8e25-3f1a7c9d2e40')).toBeUndefined();
    });

    it('an id derived from any other cart id is the v5 it always was', () => {
      const cart = '0b7f3c2e-9a41-4d6b-8e25-3f1a7c9d2e40';
      const ids = checkoutIdsFor(cart);
      expect(ids.checkoutId).toBe(uuidv5(cart, IdNamespace.checkout));
      expect(ids.orderId).toBe(uuidv5(cart, IdNamespace.order));
      expect(ids.reservationId).toBe(uuidv5(ids.checkoutId, IdNamespace.reservation));
      expect(derivedId(cart, IdNamespace.message, `${cart}/x`)).toBe(uuidv5(`${cart}/x`, IdNamespace.message));
    });
  });

  describe('traceparent', () => {
    const TP = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/;
    it('is a W3C traceparent: a fresh trace, or a new span in the parent’s trace', () => {
      const root = traceparent();
      expect(root).toMatch(TP);
      const child = traceparent(root);
      expect(child).toMatch(TP);
      expect(child.split('-')[1]).toBe(root.split('-')[1]);
      expect(child.split('-')[2]).not.toBe(root.split('-')[2]);
    });

    it('takes its digits from the UUID source in order, its dashes left out', async () => {
      const uuids = ['0af76519-16cd-43dd-8448-eb211c80319c', 'b7ad6b71-6920-4333-9b1c-0123456789ab', 'not-a-uuid-at-all-but-long-enough-0000'];
      let i = 0;
      await withUuidSource(() => uuids[i++]!, async () => {
        expect(traceparent()).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169204333-01');
        expect(traceparent('00-0123-x-01')).toBe('00-0123-notauuidatallbut-01');
      });
    });
  });

  it('hashes a name longer than its scratch buffer as it hashes any other', () => {
    const ns = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
    for (const name of ['x'.repeat(1_024), 'x'.repeat(1_025), 'ü'.repeat(1_500)]) {
      const h = createHash('sha1').update(Buffer.concat([Buffer.from(ns.replace(/-/g, ''), 'hex'), Buffer.from(name, 'utf8')])).digest('hex');
      expect(uuidv5(name, ns).replace(/-/g, '').slice(20)).toBe(h.slice(20, 32));
      expect(uuidv5(name, ns)).not.toBe(uuidv5(name.slice(1), ns));
    }
  });
});
