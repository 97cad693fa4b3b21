/**
 * What must hold after a simulated run, read from the instances' stores (closed first and opened
 * once as a restart would, so their checkpoints hold every committed record: world.ts), the simulated JetStream and the payment processor, against what the
 * shoppers were told:
 *
 *  - every checkout a shopper was acknowledged is final (confirmed, cancelled) or parked in
 *    needsAttention with a reason, and a cancelled saga undid every step it attempted;
 *  - one saga per cart across all orchestrator instances, at most one order per cart;
 *  - stock is conserved (initial = available + reserved + consumed; reserved = what HELD
 *    reservations hold), and nothing is held or authorized for a checkout that did not go through;
 *  - no effect applied twice: a cart line added once is there once (the shoppers' replies), stock
 *    moved once per reservation (conservation), and each durable timer arming fired at most once;
 *  - no event lost: every event a journal record committed reached its stream;
 *  - every acknowledged reply is still true (the cart holds what its last reply said).
 */
import Database from 'better-sqlite3';
import type { JournalRecord } from '../../runtime/journal-record.ts';
import type { SimNetwork } from './network.ts';
import type { ShopperRecord } from './shoppers.ts';
import type { Instance } from './world.ts';

type Row = Record<string, unknown>;

function open(inst: Instance): Database.Database {
  return new Database(inst.path, { readonly: true, fileMustExist: true });
}

const FINAL = new Set(['confirmed', 'cancelled']);
const topState = (value: unknown): string =>
  typeof value === 'string' ? value : value && typeof value === 'object' ? Object.keys(value)[0] ?? '?' : '?';

export interface Facts {
  instances: readonly Instance[];
  shoppers: readonly ShopperRecord[];
  net: SimNetwork;
  initialStock: ReadonlyMap<string, number>;
  /** Per timer arming, how many deliveries committed (world.ts counts them). */
  timerFirings: ReadonlyMap<string, number>;
  /** Fresh approvals per order by the simulated payment processor. */
  approvals: ReadonlyMap<string, number>;
}

/** A checkout saga as stored: its cart, state and failure. */
interface Saga {
  instance: string;
  id: string;
  cartId: string;
  orderId: string;
  state: unknown;
  failure: string | null;
  attempted: string[];
  compensated: string[];
}

/** Each forward step's undo (the saga's own record of what it must undo: machines/checkout.ts). */
const undoOf: Record<string, string> = { reserveInventory: 'releaseInventory', authorizePayment: 'voidPayment' };

function read<T>(inst: Instance, sql: string): T[] {
  const db = open(inst);
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

export function checkInvariants(f: Facts): string[] {
  const v: string[] = [];
  const of = (service: string) => f.instances.filter((i) => i.service === service);

  // Sagas: one per cart, each final or parked with a reason.
  const sagas: Saga[] = [];
  for (const inst of of('checkout')) {
    for (const r of read<Row>(inst, `SELECT id, snapshot FROM actors WHERE kind = 'checkout'`)) {
      const s = JSON.parse(r.snapshot as string) as { value: unknown; context: Omit<Saga, 'instance' | 'id' | 'state'> };
      sagas.push({ ...s.context, instance: inst.name, id: r.id as string, state: s.value });
    }
  }
  const sagaByCart = new Map<string, Saga>();
  for (const s of sagas) {
    const other = sagaByCart.get(s.cartId);
    if (other) v.push(`two sagas for cart ${s.cartId}: ${other.instance} and ${s.instance}`);
    sagaByCart.set(s.cartId, s);
    const top = topState(s.state);
    const parked = JSON.stringify(s.state).includes('needsAttention');
    if (!FINAL.has(top) && !(parked && s.failure)) v.push(`saga ${s.id} (cart ${s.cartId}) ended in ${JSON.stringify(s.state)}${parked ? ' without a reason' : ''}`);
    if (top === 'cancelled') {
      for (const step of s.attempted) {
        const undo = undoOf[step];
        if (undo && !s.compensated.includes(undo)) v.push(`saga ${s.id} was cancelled (${s.failure ?? '?'}) without ${undo}, though it attempted ${step}`);
      }
    }
  }
  const sagaByOrder = new Map(sagas.map((s) => [s.orderId, s]));

  // What the shoppers were told.
  const carts = new Map<string, { items: Array<{ productId: string; quantity: number }> }>();
  for (const inst of of('cart')) {
    for (const r of read<Row>(inst, `SELECT id, snapshot FROM actors WHERE kind = 'cart'`)) {
      carts.set(r.id as string, (JSON.parse(r.snapshot as string) as { context: { items: Array<{ productId: string; quantity: number }> } }).context);
    }
  }
  for (const s of f.shoppers) {
    if (s.checkout && !sagaByCart.has(s.cartId)) v.push(`shopper ${s.name} was told cart ${s.cartId} is checked out (order ${s.checkout.orderId}) but no saga exists`);
    if (s.lines.size > 0) {
      const stored = carts.get(s.cartId);
      const actual = new Map((stored?.items ?? []).map((i) => [i.productId, i.quantity]));
      const same = actual.size === s.lines.size && [...s.lines].every(([p, q]) => actual.get(p) === q);
      if (!same) v.push(`shopper ${s.name} was told cart ${s.cartId} holds ${fmt(s.lines)} but it holds ${fmt(actual)}`);
    }
  }

  // Orders: at most one per cart (ids derive from the cart), each consistent with its saga.
  const orders = new Map<string, string>();
  for (const inst of of('order')) {
    for (const r of read<Row>(inst, `SELECT id, json_extract(snapshot, '$.value') AS state FROM actors WHERE kind = 'order'`)) {
      if (orders.has(r.id as string)) v.push(`order ${String(r.id)} stored twice`);
      orders.set(r.id as string, String(r.state));
      const saga = sagaByOrder.get(r.id as string);
      if (!saga) v.push(`order ${String(r.id)} has no saga`);
      else if (topState(saga.state) === 'cancelled' && r.state !== 'cancelled' && r.state !== 'rejected') v.push(`order ${String(r.id)} is ${String(r.state)} but its saga was cancelled`);
    }
  }
  const live = (orderId: string) => {
    const saga = sagaByOrder.get(orderId);
    const order = orders.get(orderId);
    return saga !== undefined && topState(saga.state) === 'confirmed' && (order === 'created' || order === 'completed');
  };
  const parked = (orderId: string) => JSON.stringify(sagaByOrder.get(orderId)?.state ?? '').includes('needsAttention');

  // Stock and holds.
  for (const inst of of('inventory')) {
    const held = new Map<string, number>();
    for (const r of read<Row>(inst, `SELECT r.order_id, r.status, i.product_id, i.quantity FROM reservations r JOIN reservation_items i USING (reservation_id)`)) {
      const orderId = r.order_id as string;
      if (r.status === 'HELD') held.set(r.product_id as string, (held.get(r.product_id as string) ?? 0) + (r.quantity as number));
      if ((r.status === 'HELD' || r.status === 'CONSUMED') && !live(orderId) && !parked(orderId)) {
        v.push(`stray hold: reservation for order ${orderId} is ${String(r.status)} but the order is ${orders.get(orderId) ?? 'absent'} and its saga ${JSON.stringify(sagaByOrder.get(orderId)?.state ?? 'absent')}`);
      }
    }
    for (const r of read<Row>(inst, `SELECT product_id, available, reserved, consumed FROM stock`)) {
      const p = r.product_id as string;
      const initial = f.initialStock.get(p);
      const sum = (r.available as number) + (r.reserved as number) + (r.consumed as number);
      if (initial !== undefined && initial !== sum) v.push(`stock not conserved for ${p}: ${initial} at start, ${sum} now (${String(r.available)}+${String(r.reserved)}+${String(r.consumed)})`);
      if ((r.reserved as number) !== (held.get(p) ?? 0)) v.push(`stock of ${p} says ${String(r.reserved)} reserved, HELD reservations hold ${held.get(p) ?? 0}`);
    }
  }
  for (const inst of of('payment')) {
    for (const r of read<Row>(inst, `SELECT id, json_extract(snapshot, '$.value') AS state FROM actors WHERE kind = 'authorization'`)) {
      const orderId = r.id as string;
      if ((r.state === 'authorized' || r.state === 'captured') && !live(orderId) && !parked(orderId)) {
        v.push(`stray authorization: payment for order ${orderId} is ${String(r.state)} but the order is ${orders.get(orderId) ?? 'absent'}`);
      }
    }
  }

  // No effect twice. The processor is asked again when the Payment API crashes between its answer
  // and the commit; its contract (one authorization per orderId, processor.ts) makes that harmless,
  // and the simulated processor honours it, so a second fresh approval is a double charge.
  for (const [orderId, n] of f.approvals) if (n > 1) v.push(`payment for order ${orderId} approved ${n} times: charged twice`);
  for (const [arming, n] of f.timerFirings) if (n > 1) v.push(`timer ${arming} fired ${n} times`);

  // No event lost: every event a journal record committed is in its stream.
  const inStreams = new Set<string>();
  for (const messages of f.net.streamMessages().values()) for (const m of messages) inStreams.add(m.msgId);
  for (const inst of f.instances) {
    for (const r of read<Row>(inst, `SELECT record FROM journal WHERE record LIKE '%"effects"%'`)) {
      const record = JSON.parse(r.record as string) as JournalRecord;
      for (const e of record.effects ?? []) {
        if (e.mode !== 'publish' || inStreams.has(e.messageId)) continue;
        v.push(`event lost: ${inst.name} committed ${e.subject} (${e.messageId}), the stream never got it`);
      }
    }
  }
  return v;
}

function fmt(lines: ReadonlyMap<string, number>): string {
  return `{${[...lines].map(([p, q]) => `${p.slice(0, 8)}x${q}`).join(', ')}}`;
}

/** The end condition of the healing phase: every acknowledged checkout's saga is final or parked. */
export function settled(instances: readonly Instance[], shoppers: readonly ShopperRecord[]): boolean {
  return unsettled(instances, shoppers) === undefined;
}

/** Why the world has not settled yet, or undefined if it has. */
export function unsettled(instances: readonly Instance[], shoppers: readonly ShopperRecord[]): string | undefined {
  const states = new Map<string, unknown>();
  for (const inst of instances) {
    if (inst.service !== 'checkout' || !inst.rt || inst.rt.store.closed || inst.rt.store.inBatch) continue;
    for (const r of inst.rt.store.db.prepare(`SELECT json_extract(snapshot, '$.context.cartId') AS cart, state FROM actors WHERE kind = 'checkout'`).all() as Row[]) {
      states.set(r.cart as string, JSON.parse(r.state as string));
    }
    // Changed since the last checkpoint: the journal holds the newer state.
    for (const a of inst.rt.journal.changedActors('checkout')) {
      states.set((a.persisted.context as { cartId: string }).cartId, a.persisted.value);
    }
  }
  for (const s of shoppers) {
    if (!s.done) return `${s.name} is still shopping`;
    if (!s.checkout) continue;
    const st = states.get(s.cartId);
    if (st === undefined || !FINAL.has(topState(st))) return `the saga of cart ${s.cartId} is ${JSON.stringify(st ?? 'absent')}`;
  }
  for (const inst of instances) {
    if (!inst.rt || inst.rt.store.closed || inst.rt.store.inBatch) return `${inst.name} is down or committing`;
    const pending = inst.rt.relay.unsent();
    if (pending > 0) return `${inst.name} has ${pending} events not yet published`;
  }
  return undefined;
}
