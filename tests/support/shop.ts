/**
 * A shopper and an auditor for whole-system tests: the shopper drives the flow over the transport
 * (as the gateway does); the auditor reads the service stores afterwards to check the invariants.
 */
import type { latestActors } from '../../src/runtime/journal-queries.ts';
import { storedActors } from './stored-actors.ts';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { z } from 'zod';
import {
  Cart,
  CheckoutStatus,
  GetOrderResponse,
  GetStockLevelResponse,
  MessageType,
} from '../../src/contracts/index.ts';
import { Bucket, Command, Query } from '../../src/contracts/subjects.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { isTransient, RemoteError } from '../../src/runtime/transport/errors.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';

export const FINAL = ['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION'] as const;

/** How long the shopper keeps asking again a call that met "not now" (Shopper.call). */
const PATIENCE_MS = 15_000;

export class Shopper {
  private readonly client: ServiceClient;
  constructor(private readonly transport: Transport) {
    this.client = new ServiceClient(transport, 'urn:test:shopper', systemClock);
  }

  /**
   * One call, as a client of the gateway makes it: "not now" (nobody listens, no answer in time,
   * UNAVAILABLE) is asked again with the same idempotency key for up to {@link PATIENCE_MS}, as
   * the gateway's 503 with Retry-After tells its clients to; any other answer is the answer. Over
   * NATS a participant serves under a lease it renews every second and gives up 2.5 s after its
   * last renewal was sent: a test process stalled for about 2 s on a loaded machine (measured:
   * 1.6 s no, 2.2 s yes) hands its own slots over and takes them back, and a request meanwhile
   * finds no responders or "cart is handing its slot over; retry".
   */
  private async call<T>(subject: string, type: string, payload: unknown, schema: z.ZodType<T>, key?: string): Promise<T> {
    const end = Date.now() + PATIENCE_MS;
    for (;;) {
      try {
        return (await this.client.call(subject, type, payload, schema, { timeoutMs: 5_000, idempotencyKey: key })).payload;
      } catch (err) {
        if (!isTransient(err) || Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  addItem(cartId: string, productId: string, quantity: number): Promise<Cart> {
    return this.call(Command.addItemToCart, MessageType.addItemToCart, { cartId, productId, quantity }, Cart, randomUUID());
  }

  checkout(cartId: string, customerId: string, promotionCode?: string): Promise<Cart> {
    return this.call(Command.checkoutCart, MessageType.checkoutCart, { cartId, customerId, ...(promotionCode ? { promotionCode } : {}) }, Cart, `checkout:${cartId}`);
  }

  /** Buys the given lines in a fresh cart; resolves with the checked-out cart. */
  async buy(
    customerId: string,
    lines: ReadonlyArray<readonly [productId: string, quantity: number]>,
    promotionCode?: string,
  ): Promise<Cart & { orderId: string; checkoutId: string }> {
    const cartId = randomUUID();
    for (const [productId, q] of lines) await this.addItem(cartId, productId, q);
    const cart = await this.checkout(cartId, customerId, promotionCode);
    if (!cart.orderId || !cart.checkoutId) throw new Error('checkout reply lacks orderId/checkoutId');
    return cart as Cart & { orderId: string; checkoutId: string };
  }

  /**
   * Waits, by watching the checkouts bucket (no polling), until the checkout reaches `until`. A
   * document that is not in the bucket once the watch is up (embedded, a restart empties it) is
   * asked of the saga once, as the gateway does; what changes later comes through the watch.
   */
  async settle(checkoutId: string, until: readonly string[] = FINAL, timeoutMs = 20_000): Promise<CheckoutStatus> {
    const kv = await this.transport.kv(Bucket.checkouts);
    return new Promise<CheckoutStatus>((resolve, reject) => {
      let closer: { close(): Promise<void> } | undefined;
      let last: CheckoutStatus | undefined;
      const timer = setTimeout(() => {
        void closer?.close();
        reject(new Error(`checkout ${checkoutId} did not reach ${until.join('/')} in ${timeoutMs} ms (last status: ${last?.status ?? 'none'}; last: ${JSON.stringify(last)})`));
      }, timeoutMs);
      void kv
        .watch(checkoutId, (e) => {
          last = CheckoutStatus.parse(JSON.parse(e.value));
          if (until.includes(last.status)) {
            clearTimeout(timer);
            void closer?.close();
            resolve(last);
          }
        })
        .then(async (c) => {
          closer = c;
          if (last && until.includes(last.status)) return void c.close();
          if (last || (await kv.get(checkoutId))) return;
          const kept = await this.savedStatus(checkoutId);
          if (kept && until.includes(kept.status) && !last) {
            clearTimeout(timer);
            void c.close();
            resolve(kept);
          }
        })
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        });
    });
  }

  /** The checkout's status as its saga answers it (get-checkout), or undefined if no saga knows it. */
  private async savedStatus(checkoutId: string): Promise<CheckoutStatus | undefined> {
    try {
      return await this.call(Query.getCheckout, MessageType.getCheckoutRequest, { checkoutId }, CheckoutStatus);
    } catch (err) {
      if (err instanceof RemoteError && err.code === 'NOT_FOUND') return undefined;
      // The saga's holder may be cut off for now (a netsplit, a takeover): the watch goes on.
      if (isTransient(err)) return undefined;
      throw err;
    }
  }

  async order(orderId: string): Promise<GetOrderResponse | undefined> {
    try {
      return await this.call(Query.getOrder, MessageType.getOrderRequest, { orderId }, GetOrderResponse);
    } catch (err) {
      if (err instanceof RemoteError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  stock(productId: string): Promise<GetStockLevelResponse> {
    return this.call(Query.getStockLevel, MessageType.getStockLevelRequest, { productId }, GetStockLevelResponse);
  }

  cancelOrder(orderId: string) {
    return this.call(Command.cancelOrder, MessageType.cancelOrder, { orderId, reason: 'CUSTOMER_REQUESTED' }, z.object({ orderId: z.string() }), randomUUID());
  }

  completeOrder(orderId: string) {
    return this.call(Command.completeOrder, MessageType.completeOrder, { orderId }, z.object({ orderId: z.string() }), randomUUID());
  }
}

/**
 * Reads the service stores directly, read-only, after the fact. `payment`, `order` and `checkout`
 * are a directory (holding `<service>.db`) or a list of them, or of slot store files (a `.db` path:
 * an orchestrator slot, or a partition of a partitioned participant).
 */
export function audit(dataDirs: { inventory: string; payment: string | readonly string[]; order: string | readonly string[]; checkout: readonly string[] }, initialStock: ReadonlyMap<string, number>): string[] {
  const open = (dir: string, service: string) => new Database(dir.endsWith('.db') ? dir : join(dir, `${service}.db`), { readonly: true, fileMustExist: true });
  const all = (dirs: string | readonly string[], service: string, kind: string) => {
    const rows: ReturnType<typeof latestActors> = [];
    for (const dir of typeof dirs === 'string' ? [dirs] : dirs) {
      const db = open(dir, service);
      try {
        // One at a time: a spread of a long run's 270,000 rows overflows the call stack.
        for (const row of storedActors(db, kind)) rows.push(row);
      } finally {
        db.close();
      }
    }
    return rows;
  };
  const inv = open(dataDirs.inventory, 'inventory');
  const problems: string[] = [];
  try {
    const stock = inv.prepare('SELECT product_id, available, reserved, consumed FROM stock').all() as Array<{ product_id: string; available: number; reserved: number; consumed: number }>;
    for (const s of stock) {
      const initial = initialStock.get(s.product_id);
      if (initial !== undefined && initial !== s.available + s.reserved + s.consumed) {
        problems.push(`stock not conserved for ${s.product_id}: ${initial} != ${s.available}+${s.reserved}+${s.consumed}`);
      }
      if (s.available < 0 || s.reserved < 0) problems.push(`negative stock for ${s.product_id}`);
    }
    const reservations = new Map<string, string[]>();
    for (const r of inv.prepare('SELECT order_id, status FROM reservations').all() as Array<{ order_id: string; status: string }>) {
      reservations.set(r.order_id, [...(reservations.get(r.order_id) ?? []), r.status]);
    }
    const payments = new Map<string, string>();
    for (const a of all(dataDirs.payment, 'payment', 'authorization')) {
      payments.set(a.id, String(a.state));
    }
    const orders = all(dataDirs.order, 'order', 'order').map((o) => ({ id: o.id, state: String(o.state) }));
    // What the inventory store holds of an order's reservation, for a problem's message: its rows'
    // statuses and its reservation actors' states (a row missing beside an actor that is held would
    // be a table write lost; both missing, a record lost; a row RELEASED, a release that came).
    let actorsByOrder: Map<string, string[]> | undefined;
    const reservationTrail = (orderId: string): string => {
      actorsByOrder ??= storedActors(inv, 'reservation').reduce((m, a) => {
        const order = String(a.snapshot.context.orderId);
        return m.set(order, [...(m.get(order) ?? []), `${a.id} ${JSON.stringify(a.state)}`]);
      }, new Map<string, string[]>());
      return `rows: ${JSON.stringify(reservations.get(orderId) ?? [])}; reservation actors: ${JSON.stringify(actorsByOrder.get(orderId) ?? [])}; payment: ${payments.get(orderId) ?? 'none'}`;
    };
    for (const o of orders) {
      const holds = reservations.get(o.id) ?? [];
      const payment = payments.get(o.id);
      if (o.state === 'cancelled') {
        if (holds.includes('HELD')) problems.push(`cancelled order ${o.id} keeps a HELD reservation`);
        if (payment === 'authorized') problems.push(`cancelled order ${o.id} keeps an AUTHORIZED payment`);
      }
      if (o.state === 'created' || o.state === 'completed') {
        const live = holds.filter((h) => h === 'HELD' || h === 'CONSUMED');
        if (live.length !== 1) problems.push(`order ${o.id} (${o.state}) has ${live.length} live reservations (${reservationTrail(o.id)})`);
        if (payment !== 'authorized' && payment !== 'captured') problems.push(`order ${o.id} (${o.state}) has payment ${payment}`);
      }
    }
    const sagasByCart = new Map<string, number>();
    for (const dir of dataDirs.checkout) {
      // A directory holds checkout.db; a .db path is one orchestrator slot's store (CHECKOUT_SLOTS).
      const co = open(dir, 'checkout');
      try {
        for (const s of storedActors(co, 'checkout').map((a) => ({ cart: a.snapshot.context.cartId as string }))) {
          sagasByCart.set(s.cart, (sagasByCart.get(s.cart) ?? 0) + 1);
        }
      } finally {
        co.close();
      }
    }
    for (const [cart, n] of sagasByCart) if (n > 1) problems.push(`cart ${cart} produced ${n} sagas`);
  } finally {
    inv.close();
  }
  return problems;
}
