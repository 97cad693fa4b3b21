/**
 * The order: one actor per orderId (the id the shopper got at checkout).
 *
 *   new ─order.create─▶ created ─order.complete─▶ completed
 *    │  └─(refused)─▶ rejected            │
 *    │                    │               └─order.cancel─▶ cancelled
 *    └──────order.cancel──┴──────────────────────────────▶ cancelled
 *
 * A cancel before any create is the saga's failure path: the order never existed, but the Order
 * Service records it as CANCELLED so that get-order and order-cancelled tell the shopper why
 * (catalog decision 4). A completed order cannot be cancelled; the shopper starts a return.
 */
import { assign, setup } from 'xstate';

export const orderMachineVersion = '1';

export interface OrderLine {
  productId: string;
  /** The product's SKU, resolved by the service when the order is created (order-created keys items by it). */
  sku?: string | undefined;
  quantity: number;
  unitPrice: number;
}

export interface OrderContext {
  orderId: string;
  cartId: string | null;
  customerId: string | null;
  items: OrderLine[];
  total: number;
  currency: string;
  paymentAuthorizationId: string | null;
  createdAt: string | null;
  cancelledAt: string | null;
  completedAt: string | null;
  reason: 'CUSTOMER_REQUESTED' | 'PAYMENT_FAILED' | 'OUT_OF_STOCK' | 'FRAUD' | null;
  detail: string | null;
  rejection: string | null;
}

export interface OrderFacts {
  cartId?: string | undefined;
  customerId?: string | undefined;
  items?: OrderLine[] | undefined;
  total?: number | undefined;
  currency?: string | undefined;
}

export type OrderEvent =
  | {
      type: 'order.create';
      at: string;
      cartId: string;
      customerId: string;
      items: OrderLine[];
      total: number;
      currency: string;
      paymentAuthorizationId: string | null;
      /** Set when the service's rules refuse the order; the machine records the refusal. */
      refusal: string | null;
    }
  | ({ type: 'order.cancel'; at: string; reason: NonNullable<OrderContext['reason']>; detail: string | null } & OrderFacts)
  | { type: 'order.complete'; at: string };

export const orderMachine = setup({
  types: { context: {} as OrderContext, events: {} as OrderEvent, input: {} as { id: string } },
  actions: {
    publishOrderCreated: (_, _p: Record<string, never>) => {},
    publishOrderCancelled: (_, _p: Record<string, never>) => {},
    publishOrderCompleted: (_, _p: Record<string, never>) => {},
    recordCancellation: assign(({ context, event }) => {
      if (event.type !== 'order.cancel') return {};
      return {
        cancelledAt: event.at,
        reason: event.reason,
        detail: event.detail,
        cartId: context.cartId ?? event.cartId ?? null,
        customerId: context.customerId ?? event.customerId ?? null,
        items: context.items.length ? context.items : (event.items ?? []),
        total: context.customerId ? context.total : (event.total ?? 0),
        currency: context.customerId ? context.currency : (event.currency ?? context.currency),
      };
    }),
  },
  guards: {
    refused: ({ event }) => event.type === 'order.create' && event.refusal !== null,
  },
}).createMachine({
  id: 'order',
  context: ({ input }) => ({
    orderId: input.id, cartId: null, customerId: null, items: [], total: 0, currency: 'USD',
    paymentAuthorizationId: null, createdAt: null, cancelledAt: null, completedAt: null,
    reason: null, detail: null, rejection: null,
  }),
  initial: 'new',
  states: {
    new: {
      on: {
        'order.create': [
          {
            guard: 'refused',
            target: 'rejected',
            actions: assign(({ event }) => ({
              cartId: event.cartId, customerId: event.customerId, items: event.items, total: event.total,
              currency: event.currency, rejection: event.refusal,
            })),
          },
          {
            target: 'created',
            actions: [
              assign(({ event }) => ({
                cartId: event.cartId, customerId: event.customerId, items: event.items, total: event.total,
                currency: event.currency, paymentAuthorizationId: event.paymentAuthorizationId, createdAt: event.at,
              })),
              { type: 'publishOrderCreated', params: {} },
            ],
          },
        ],
        'order.cancel': { target: 'cancelled', actions: ['recordCancellation', { type: 'publishOrderCancelled', params: {} }] },
      },
    },
    rejected: {
      on: { 'order.cancel': { target: 'cancelled', actions: ['recordCancellation', { type: 'publishOrderCancelled', params: {} }] } },
    },
    created: {
      on: {
        'order.cancel': { target: 'cancelled', actions: ['recordCancellation', { type: 'publishOrderCancelled', params: {} }] },
        'order.complete': {
          target: 'completed',
          actions: [assign({ completedAt: ({ event }) => event.at }), { type: 'publishOrderCompleted', params: {} }],
        },
      },
    },
    completed: { type: 'final' },
    cancelled: { type: 'final' },
  },
});
