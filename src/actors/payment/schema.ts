/**
 * The Payment API's store: the actor host's tables, plus `payments`, the catalog's payment-database
 * table (its column names where they fit), kept in step with each authorization by the
 * `recordPayment` action in the same transaction. Operators and invariant checks read it with
 * plain SQL; the actor snapshot stays the system of record.
 */
import { z } from 'zod';
import type { Db, Migration } from '../../runtime/store.ts';
import { runtimeMigrations } from '../../runtime/schema.ts';
import { Currency, NonNegativeMoney, Uuid, VoidReason, type PaymentStatus } from '../../contracts/index.ts';

export const paymentMigrations: readonly Migration[] = [
  ...runtimeMigrations,
  {
    version: 100,
    name: 'payments',
    sql: `
      CREATE TABLE payments (
        order_id         TEXT PRIMARY KEY,
        authorization_id TEXT,
        cart_id          TEXT,
        customer_id      TEXT,
        amount_cents     INTEGER CHECK (amount_cents >= 0),
        currency         TEXT,
        status           TEXT NOT NULL CHECK (status IN ('AUTHORIZED', 'DECLINED', 'VOIDED', 'CAPTURED')),
        decline_reason   TEXT,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
      );
      CREATE INDEX payments_status ON payments (status);
    `,
  },
  {
    // No query reads payments by status (authorizationStates reads them all), and the index moved
    // an entry at every change of status: 2.0 MB of 3,000 checkouts in the census
    // (docs/benchmarks.md). The table keeps its rowid: its rows (about 180 bytes) are near SQLite's
    // 1/20 of a 4 KiB page, past which WITHOUT ROWID stops paying.
    version: 101,
    name: 'payments without the status index',
    sql: `DROP INDEX payments_status;`,
  },
];

/** A stored authorization context must parse before the host uses it. */
export const AuthorizationContextSchema = z.object({
  orderId: Uuid,
  authorizationId: Uuid.nullable(),
  cartId: Uuid.nullable(),
  customerId: Uuid.nullable(),
  amount: NonNegativeMoney.nullable(),
  currency: Currency.nullable(),
  declineReason: z.enum(['DECLINED', 'FRAUD']).nullable(),
  declineMessage: z.string().nullable(),
  authorizedAt: z.string().nullable(),
  declinedAt: z.string().nullable(),
  voidedAt: z.string().nullable(),
  voidReason: VoidReason.nullable(),
  capturedAt: z.string().nullable(),
});

/** orderId → status of every payment this store has decided, for invariant checks. */
export function authorizationStates(db: Db): Map<string, PaymentStatus> {
  const rows = db.prepare('SELECT order_id, status FROM payments').all() as {
    order_id: string;
    status: PaymentStatus;
  }[];
  return new Map(rows.map((r) => [r.order_id, r.status]));
}
