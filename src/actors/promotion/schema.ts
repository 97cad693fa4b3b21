/**
 * The Promotion Service's store: the runtime's tables (inbox and outbox; it has no actors), plus
 * promotions and their eligibility rules as in the catalog's promotion-database/schema.sql. We add
 * `currency` (the currency of a FIXED_AMOUNT value and of a min spend) and store times as ISO-8601.
 */
import type { Migration } from '../../runtime/store.ts';
import { runtimeMigrations } from '../../runtime/schema.ts';
import type { Db, Store } from '../../runtime/store.ts';
import type { SeedPromotion } from '../seed/seed.ts';
import type { PromotionRule } from './rules.ts';

export const promotionMigrations: readonly Migration[] = [
  ...runtimeMigrations,
  {
    version: 100,
    name: 'promotions',
    sql: `
      CREATE TABLE promotions (
        promotion_id TEXT PRIMARY KEY,
        code         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        description  TEXT,
        type         TEXT NOT NULL CHECK (type IN ('PERCENTAGE', 'FIXED_AMOUNT')),
        value        INTEGER NOT NULL CHECK (value >= 0),
        currency     TEXT NOT NULL DEFAULT 'USD' CHECK (length(currency) = 3),
        starts_at    TEXT NOT NULL,
        ends_at      TEXT,
        active       INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        CHECK (type <> 'PERCENTAGE' OR value <= 100)
      );

      CREATE TABLE eligibility_rules (
        promotion_id     TEXT NOT NULL REFERENCES promotions (promotion_id) ON DELETE CASCADE,
        min_spend_cents  INTEGER CHECK (min_spend_cents >= 0),
        customer_segment TEXT,
        PRIMARY KEY (promotion_id)
      );

      CREATE INDEX idx_promotions_active ON promotions (active) WHERE active = 1;
    `,
  },
];

const SEEDED_KEY = 'promotion.promotions.seeded';

function isoOf(field: string, code: string, value: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`promotion ${code}: ${field} "${value}" is not a date-time`);
  return new Date(t).toISOString();
}

/** Loads the seed at first start only (a `meta` marker records it), never over later edits. */
export function seedPromotionsOnce(store: Store, promotions: readonly SeedPromotion[]): Promise<number> {
  return store.write((db) => {
    if (db.prepare('SELECT 1 FROM meta WHERE key = ?').get(SEEDED_KEY)) return 0;
    const promotion =
      db.prepare(`INSERT INTO promotions (promotion_id, code, description, type, value, starts_at, ends_at, active)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    const rule = db.prepare('INSERT INTO eligibility_rules (promotion_id, min_spend_cents) VALUES (?, ?)');
    for (const p of promotions) {
      const endsAt = p.endsAt === undefined ? null : isoOf('endsAt', p.code, p.endsAt);
      promotion.run(
        p.promotionId,
        p.code,
        p.description ?? null,
        p.type,
        p.value,
        isoOf('startsAt', p.code, p.startsAt),
        endsAt,
        p.active ? 1 : 0,
      );
      if (p.minSpend !== undefined) rule.run(p.promotionId, p.minSpend);
    }
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(SEEDED_KEY, String(promotions.length));
    return promotions.length;
  });
}

interface RuleRow {
  promotion_id: string;
  code: string;
  type: 'PERCENTAGE' | 'FIXED_AMOUNT';
  value: number;
  currency: string;
  starts_at: string;
  ends_at: string | null;
  active: number;
  min_spend_cents: number | null;
}

/** Looks a promotion up by code, case-insensitively. */
export function promotionLookup(db: Db): (code: string) => PromotionRule | undefined {
  const byCode = db.prepare(`SELECT p.*, r.min_spend_cents FROM promotions p
    LEFT JOIN eligibility_rules r ON r.promotion_id = p.promotion_id WHERE p.code = ?`);
  return (code) => {
    const row = byCode.get(code) as RuleRow | undefined;
    if (!row) return undefined;
    return {
      promotionId: row.promotion_id,
      code: row.code,
      type: row.type,
      value: row.value,
      currency: row.currency,
      minSpend: row.min_spend_cents,
      startsAt: Date.parse(row.starts_at),
      endsAt: row.ends_at === null ? null : Date.parse(row.ends_at),
      active: row.active === 1,
    };
  };
}
