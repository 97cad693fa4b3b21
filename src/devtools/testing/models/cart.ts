/**
 * The cart as path generation sees it. A per-line limit of 2 bounds the state space (the
 * machine's own `invalid` refusal stops a third unit), and the sampler offers adds and removes
 * the rules refuse (over the limit, another currency, more than the cart holds, a product not in
 * it) next to the ones they accept, so paths show refusals changing nothing.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { cartMachine, type CartContext, type CartEvent } from '../../../machines/cart.ts';
import { byEventType, statePath, type MachineModel } from '../model.ts';

const AT = '2026-01-01T00:00:00.000Z';
const MAX_PER_LINE = 2;

const products = {
  anvil: { productId: '6b3f9d8e-9c27-5d6f-9dcf-9fce6c7a8b07', unitPrice: 12_900, currency: 'USD' },
  /** Priced in another currency: refused once the cart holds anything in USD. */
  francs: { productId: '8d1f7b6a-be49-5f8b-9fe1-b1e08e9cad09', unitPrice: 900, currency: 'CHF' },
} as const;
type Product = keyof typeof products;
const nameOf = new Map<string, string>(Object.entries(products).map(([name, p]) => [p.productId, name]));

const add = (p: Product, quantity: number): CartEvent => ({
  type: 'cart.addItem',
  at: AT,
  ...products[p],
  quantity,
  maxPerLine: MAX_PER_LINE,
});
const remove = (p: Product, quantity: number | null): CartEvent => ({
  type: 'cart.removeItem',
  at: AT,
  productId: products[p].productId,
  quantity,
});

const cartEvents: readonly CartEvent[] = [
  add('anvil', 1),
  add('anvil', MAX_PER_LINE + 1),
  add('francs', 1),
  remove('anvil', 1),
  remove('anvil', null),
  remove('francs', 5),
  {
    type: 'cart.checkout',
    at: AT,
    customerId: '4f5d1b0c-7a05-4b4d-9bad-7dac4a5e6f05',
    promotionCode: 'WELCOME10',
    subtotal: 0,
    discount: 0,
    appliedPromotions: ['WELCOME10'],
    promotionRejection: null,
  },
  { type: 'cart.abandon', at: AT },
  {
    type: 'cart.reopen',
    at: AT,
    items: [{ productId: products.anvil.productId, quantity: 1, unitPrice: products.anvil.unitPrice }],
    currency: 'USD',
    customerId: '4f5d1b0c-7a05-4b4d-9bad-7dac4a5e6f05',
    restoredFrom: { cartId: '5a7e3c2d-8b16-4c5e-9d0f-8ebd5b6f7a06', reason: 'OUT_OF_STOCK', detail: 'OUT_OF_STOCK' },
  },
];

const ctx = (s: AnyMachineSnapshot) => s.context as CartContext;
const lines = (s: AnyMachineSnapshot) =>
  ctx(s)
    .items.map((i) => `${i.quantity} × ${nameOf.get(i.productId) ?? i.productId}`)
    .join(', ');

export const cartModel: MachineModel = {
  name: 'cart',
  title:
    'The cart (src/machines/cart.ts): created by its first add (or reopened after a cancelled checkout), edited while open, then checked out or abandoned by its timer',
  machine: cartMachine,
  input: { id: '3e6c2a1b-69f4-4a3c-8a9c-6c9b3f4d5e04' },
  events: cartEvents,
  stateKey: (s) => `${statePath(s.value)} [${lines(s)}] ${ctx(s).currency}`,
  describeEvent: byEventType<CartEvent>({
    'cart.addItem': (ev) => `add ${ev.quantity} × ${nameOf.get(ev.productId) ?? ev.productId}`,
    'cart.removeItem': (ev) => `remove ${ev.quantity ?? 'all'} × ${nameOf.get(ev.productId) ?? ev.productId}`,
    'cart.checkout': () => 'check out',
    'cart.abandon': () => 'abandon timer fires',
    'cart.reopen': (ev) => `reopen with the lines of a cancelled checkout (${ev.restoredFrom.reason})`,
  }),
  describeEnd: (s) => {
    const p = statePath(s.value);
    const held = lines(s) || 'empty';
    return p === 'checkedOut'
      ? `(CHECKED OUT: ${held})`
      : p === 'abandoned'
        ? `(ABANDONED: ${held})`
        : p === 'new'
          ? '(no cart yet)'
          : `(open: ${held})`;
  },
};
