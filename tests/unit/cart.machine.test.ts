import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import {
  cartMachine,
  cartRefusal,
  checkoutRefusal,
  subtotalOf,
  type CartContext,
  type CartEvent,
  type CartState,
} from '../../src/machines/cart.ts';

const CART = '33333333-3333-4333-8333-333333333333';
const CUSTOMER = '44444444-4444-4444-8444-444444444444';
const ANVIL = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const MAGNET = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const AT = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T00:05:00.000Z';

type Action = { type: string; params?: unknown };

function given(...events: CartEvent[]): AnyMachineSnapshot {
  let [s] = initialTransition(cartMachine, { id: CART });
  for (const e of events) [s] = transition(cartMachine, s, e);
  return s;
}

function when(
  s: AnyMachineSnapshot,
  e: CartEvent,
): { next: AnyMachineSnapshot; actions: string[]; changed: boolean } {
  const [next, actions] = transition(cartMachine, s, e);
  return {
    next,
    actions: (actions as Action[]).map((a) => a.type).filter((t) => !t.startsWith('xstate.')),
    changed: next !== s,
  };
}

const ctx = (s: AnyMachineSnapshot) => s.context as CartContext;
const state = (s: AnyMachineSnapshot) => String(s.value) as CartState;

const add = (productId: string, quantity: number, unitPrice = 1_000, currency = 'USD'): CartEvent => ({
  type: 'cart.addItem',
  at: AT,
  productId,
  quantity,
  unitPrice,
  currency,
  maxPerLine: 10,
});
const remove = (productId: string, quantity: number | null = null): CartEvent => ({
  type: 'cart.removeItem',
  at: LATER,
  productId,
  quantity,
});
const checkout = (subtotal: number, discount = 0): CartEvent => ({
  type: 'cart.checkout',
  at: LATER,
  customerId: CUSTOMER,
  promotionCode: discount ? 'WELCOME10' : null,
  subtotal,
  discount,
  appliedPromotions: discount ? ['WELCOME10'] : [],
  promotionRejection: null,
});
const abandon: CartEvent = { type: 'cart.abandon', at: LATER };

const OTHER = '55555555-5555-4555-8555-555555555555';
const by = <E extends CartEvent>(e: E, customerId: string): E => ({ ...e, customerId });

describe('cart machine', () => {
  describe('ownership', () => {
    it('makes the first customer who names themselves the owner, and keeps them', () => {
      const s = given(add(ANVIL, 1), by(add(ANVIL, 1), CUSTOMER), by(add(MAGNET, 1), CUSTOMER));
      expect(ctx(s).customerId).toBe(CUSTOMER);
      expect(ctx(given(by(add(ANVIL, 1), OTHER), by(add(ANVIL, 1), OTHER))).customerId).toBe(OTHER);
    });

    it('refuses another customer’s add, remove and checkout as if the cart did not exist, and records nothing', () => {
      const s = given(by(add(ANVIL, 2), CUSTOMER));
      for (const e of [by(add(ANVIL, 1), OTHER), by(remove(ANVIL), OTHER), by(checkout(2_000), OTHER)]) {
        expect(cartRefusal(state(s), ctx(s), e)).toEqual({ kind: 'cartNotFound', message: `cart ${CART} not found` });
        expect(when(s, e).changed).toBe(false);
      }
      expect(checkoutRefusal(state(s), ctx(s), OTHER)?.kind).toBe('cartNotFound');
    });

    it('judges a command that names nobody as before (AUTH=off), and lets the owner act', () => {
      const s = given(by(add(ANVIL, 2), CUSTOMER));
      expect(when(s, add(ANVIL, 1)).changed).toBe(true);
      expect(when(s, by(remove(ANVIL, 1), CUSTOMER)).changed).toBe(true);
      expect(when(s, checkout(2_000)).changed).toBe(true);
    });
  });

  describe('when the first item is added to a cart that does not exist yet', () => {
    it('creates the cart, records the line at the given price and arms the abandon timer', () => {
      const { next, actions } = when(given(), add(ANVIL, 2, 12_900));
      expect(state(next)).toBe('open');
      expect(ctx(next).items).toEqual([{ productId: ANVIL, quantity: 2, unitPrice: 12_900 }]);
      expect(ctx(next).createdAt).toBe(AT);
      expect(actions).toEqual(['armAbandonTimer']);
    });
  });

  describe('when a cart that does not exist is asked for anything but an add', () => {
    it.each([remove(ANVIL), checkout(0), abandon])(
      'refuses $type as cartNotFound (or ignores the timer)',
      (e) => {
        const s = given();
        expect(when(s, e).changed).toBe(false);
        expect(cartRefusal('new', ctx(s), e)?.kind).toBe(
          e.type === 'cart.abandon' ? 'cartClosed' : 'cartNotFound',
        );
      },
    );
  });

  describe('when a product already in the cart is added again', () => {
    it('increases the line and keeps the price captured first', () => {
      const { next, actions } = when(given(add(ANVIL, 2, 12_900)), add(ANVIL, 3, 99_999));
      expect(ctx(next).items).toEqual([{ productId: ANVIL, quantity: 5, unitPrice: 12_900 }]);
      expect(actions).toEqual(['armAbandonTimer']);
    });
  });

  describe('when an add would take a line past the per-line limit', () => {
    it('refuses it as invalid and changes nothing', () => {
      const s = given(add(ANVIL, 8));
      const e = add(ANVIL, 3);
      expect(when(s, e).changed).toBe(false);
      const refusal = cartRefusal('open', ctx(s), e);
      expect(refusal?.kind).toBe('invalid');
      expect(refusal?.message).toContain('at most 10');
      expect(when(s, add(ANVIL, 2)).changed).toBe(true);
    });
  });

  describe('when a product in another currency is added', () => {
    it('refuses it as invalid', () => {
      const s = given(add(ANVIL, 1));
      const e = add(MAGNET, 1, 500, 'EUR');
      expect(when(s, e).changed).toBe(false);
      expect(cartRefusal('open', ctx(s), e)?.kind).toBe('invalid');
    });
  });

  describe('when items are removed', () => {
    const s = given(add(ANVIL, 3), add(MAGNET, 1));

    it('removes that many with a quantity', () => {
      const { next, actions } = when(s, remove(ANVIL, 2));
      expect(ctx(next).items).toEqual([
        { productId: ANVIL, quantity: 1, unitPrice: 1_000 },
        { productId: MAGNET, quantity: 1, unitPrice: 1_000 },
      ]);
      expect(actions).toEqual(['armAbandonTimer']);
    });

    it('removes the line when the quantity is all of it, or when no quantity is given', () => {
      expect(ctx(when(s, remove(ANVIL, 3)).next).items.map((i) => i.productId)).toEqual([MAGNET]);
      expect(ctx(when(s, remove(MAGNET)).next).items.map((i) => i.productId)).toEqual([ANVIL]);
    });

    it('refuses more than the line holds, and a product not in the cart', () => {
      expect(when(s, remove(ANVIL, 4)).changed).toBe(false);
      expect(cartRefusal('open', ctx(s), remove(ANVIL, 4))?.kind).toBe('invalid');
      const other = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
      expect(when(s, remove(other)).changed).toBe(false);
      expect(cartRefusal('open', ctx(s), remove(other))?.kind).toBe('itemNotInCart');
    });
  });

  describe('when the cart is checked out', () => {
    const s = given(add(ANVIL, 2, 12_900), add(MAGNET, 1, 3_999));

    it('records the customer and the pricing, cancels the abandon timer and publishes cart-checked-out', () => {
      const subtotal = subtotalOf(ctx(s).items);
      expect(subtotal).toBe(29_799);
      const { next, actions } = when(s, checkout(subtotal, 2_979));
      expect(state(next)).toBe('checkedOut');
      expect(ctx(next)).toMatchObject({
        customerId: CUSTOMER,
        checkedOutAt: LATER,
        pricing: { subtotal: 29_799, discount: 2_979, total: 26_820, appliedPromotions: ['WELCOME10'] },
      });
      expect(actions).toEqual(['cancelAbandonTimer', 'publishCartCheckedOut']);
    });

    it('never totals below zero', () => {
      expect(ctx(when(s, checkout(100, 500)).next).pricing?.total).toBe(0);
    });

    it('refuses every later change, a second checkout, and ignores the abandon timer', () => {
      const done = when(s, checkout(29_799)).next;
      for (const e of [add(ANVIL, 1), remove(ANVIL), checkout(29_799), abandon]) {
        expect(when(done, e).changed, e.type).toBe(false);
        expect(cartRefusal('checkedOut', ctx(done), e)?.kind, e.type).toBe('cartClosed');
      }
    });
  });

  describe('when an empty cart is checked out', () => {
    it('refuses it as cartEmpty', () => {
      const s = given(add(ANVIL, 1), remove(ANVIL));
      expect(ctx(s).items).toEqual([]);
      expect(when(s, checkout(0)).changed).toBe(false);
      expect(checkoutRefusal('open', ctx(s))?.kind).toBe('cartEmpty');
    });
  });

  describe('when the abandon timer fires on an open cart', () => {
    it('abandons it (empty or not) and refuses every later change', () => {
      for (const s of [given(add(ANVIL, 1)), given(add(ANVIL, 1), remove(ANVIL))]) {
        const { next, actions } = when(s, abandon);
        expect(state(next)).toBe('abandoned');
        expect(ctx(next).abandonedAt).toBe(LATER);
        expect(actions).toEqual([]);
        for (const e of [add(ANVIL, 1), remove(ANVIL), checkout(1_000)]) {
          expect(when(next, e).changed).toBe(false);
          expect(cartRefusal('abandoned', ctx(next), e)?.kind).toBe('cartClosed');
        }
      }
    });
  });

  describe('when a cancelled checkout reopens its cart', () => {
    const OLD = '66666666-6666-4666-8666-666666666666';
    const reopen = (items = [{ productId: ANVIL, quantity: 3, unitPrice: 1_000 }]): CartEvent => ({
      type: 'cart.reopen',
      at: LATER,
      items,
      currency: 'USD',
      customerId: CUSTOMER,
      restoredFrom: { cartId: OLD, reason: 'OUT_OF_STOCK', detail: 'OUT_OF_STOCK' },
    });

    it('opens a new cart with the old lines, owner and reason, and arms the abandon timer', () => {
      const { next, actions } = when(given(), reopen());
      expect(state(next)).toBe('open');
      expect(ctx(next)).toMatchObject({
        items: [{ productId: ANVIL, quantity: 3, unitPrice: 1_000 }],
        customerId: CUSTOMER,
        createdAt: LATER,
        restoredFrom: { cartId: OLD, reason: 'OUT_OF_STOCK', detail: 'OUT_OF_STOCK' },
      });
      expect(actions).toEqual(['armAbandonTimer']);
    });

    it('can then be changed and checked out like any cart', () => {
      const s = given(reopen(), remove(ANVIL, 2));
      expect(ctx(s).items[0]?.quantity).toBe(1);
      expect(state(when(s, checkout(1_000)).next)).toBe('checkedOut');
    });

    it('reopens nothing twice, and nothing empty: a cart that exists, or no lines, is refused', () => {
      const open = given(reopen());
      expect(when(open, reopen([{ productId: MAGNET, quantity: 1, unitPrice: 500 }])).changed).toBe(false);
      expect(cartRefusal('open', ctx(open), reopen())?.kind).toBe('cartClosed');
      expect(when(given(), reopen([])).changed).toBe(false);
      expect(cartRefusal('new', ctx(given()), reopen([]))?.kind).toBe('cartEmpty');
    });
  });

  describe('when a stored snapshot is restored', () => {
    it('continues from where it was', () => {
      const s = given(add(ANVIL, 2));
      const restored = cartMachine.resolveState({
        value: s.value as never,
        context: JSON.parse(JSON.stringify(s.context)) as never,
      });
      expect(ctx(when(restored, add(ANVIL, 1)).next).items[0]?.quantity).toBe(3);
    });
  });
});
