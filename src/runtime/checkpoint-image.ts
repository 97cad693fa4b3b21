/**
 * The image a slot's checkpoint publishes (replication.ts): a SQLite file that a new owner writes in
 * place of its store (rebuild.ts), holding what that owner needs and not the journal's history.
 *
 * Every table is copied whole (actors with their timers and pending requests, meta, the migrations,
 * the service's own tables: stock, reservations, payments, the order index), except `journal`, of
 * which the image keeps the records from the first of
 *   - every record above `min(journal_checkpoint, relay_watermark)` as the store's `meta` has them,
 *     and always the head: what opening the store applies to memory (the actors' newest snapshots,
 *     timers and requests not yet in their rows), what the relay has still to send, and the head
 *     record whose hash the log's head carries (replication.ts, `check`);
 *   - the inbox window: the records of the last INBOX_WINDOW_MS, and a margin for the new owner's
 *     clock, so that a duplicate within the window gets the stored reply, byte for byte, after a
 *     takeover as before it (journal.ts, `storedReply`);
 * on, whole: the store as it would be with a retention of the window. The history before is left
 * out: the journal keeps 24 hours of it for the explorer and `npm run replay` on the store that
 * wrote it, and a store rebuilt from an image starts its history there. The log itself still holds
 * every record after its latest checkpoint.
 *
 * Built on the store's own connection, between batches: a database in memory is attached, the
 * schema copied, each table copied by `INSERT INTO … SELECT *` (SQLite's transfer optimisation
 * copies the rows without decoding them), the journal's range of positions row by row, then that
 * database is serialized and detached. Before this the image was the whole file (`fullImage`): 86% of it the
 * journal's retained records, gzipped again at every checkpoint (docs/benchmarks.md).
 */
import { INBOX_WINDOW_MS, type Journal } from './journal.ts';

/**
 * How far before the window the image still keeps inbox keys: the window is counted on the next
 * owner's clock, which may be behind this one's (by less than this, on machines kept in time by NTP).
 */
export const IMAGE_CLOCK_MARGIN_MS = 30_000;

const IMAGE_SCHEMA = 'checkpoint_image';

/** The store's whole SQLite file: what every checkpoint published before the image left the history out (still read by a rebuild). */
export const fullImage = (journal: Journal): Buffer => journal.store.db.serialize();

/**
 * The checkpoint image of `journal`'s store (between batches: no transaction may be open): its
 * tables, and of the journal what a new owner needs now (above).
 */
export function checkpointImage(journal: Journal): Buffer {
  const db = journal.store.db;
  const meta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
  const metaPos = (key: string): number => Number(meta.get(key) ?? 0);
  const full = Math.min(metaPos('journal_checkpoint'), metaPos('relay_watermark'), journal.head - 1);
  // A position, found by bisection as the journal's open finds its window: a range of the B-tree, not a scan of the history.
  const windowFrom = journal.firstAtOrAfter(journal.clock.now() - INBOX_WINDOW_MS - IMAGE_CLOCK_MARGIN_MS);
  const from = Math.min(full + 1, windowFrom);
  // Copying rows costs more per byte than serialize's copy of pages: 1.2-2.1 s against 0.8-1.2 s for
  // an 86 MB store at load 16, the same at half of it kept, 0.3-0.6 s at a third. While the history
  // left out would be less than what is kept (a store's first five minutes), the whole file is made.
  const first = (db.prepare('SELECT pos FROM journal ORDER BY pos LIMIT 1').pluck().get() as number | undefined) ?? from;
  if (from - first < journal.head - from + 1) return fullImage(journal);
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
  db.exec(`ATTACH DATABASE ':memory:' AS ${IMAGE_SCHEMA}`);
  try {
    // Rows are copied in any table order: the image's constraints were checked where they were written.
    db.pragma('foreign_keys = OFF');
    db.pragma(`${IMAGE_SCHEMA}.page_size = ${pageSize}`);
    const schema = db.prepare(`SELECT type, name, sql FROM main.sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'table' DESC, rowid`).all() as Array<{ type: string; name: string; sql: string }>;
    db.transaction(() => {
      for (const s of schema) db.exec(inSchema(s.sql));
      for (const { name } of schema.filter((s) => s.type === 'table')) {
        if (name === 'journal') continue;
        db.exec(`INSERT INTO ${IMAGE_SCHEMA}."${name}" SELECT * FROM main."${name}"`);
      }
      // A range of positions: rows copied as they are, no record parsed (making one shorter cost 3-6x as much on this thread).
      db.prepare(`INSERT INTO ${IMAGE_SCHEMA}.journal SELECT * FROM main.journal WHERE pos >= ? ORDER BY pos`).run(from);
      // An AUTOINCREMENT table numbers on after the highest number it ever gave, as in the store.
      const sequence = db.prepare(`SELECT 1 FROM ${IMAGE_SCHEMA}.sqlite_schema WHERE name = 'sqlite_sequence'`).get();
      if (sequence) db.exec(`DELETE FROM ${IMAGE_SCHEMA}.sqlite_sequence; INSERT INTO ${IMAGE_SCHEMA}.sqlite_sequence SELECT * FROM main.sqlite_sequence WHERE name IN (SELECT name FROM ${IMAGE_SCHEMA}.sqlite_schema)`);
    })();
    return db.serialize({ attached: IMAGE_SCHEMA });
  } finally {
    db.exec(`DETACH DATABASE ${IMAGE_SCHEMA}`);
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
  }
}

/** A `CREATE TABLE|INDEX …` of the main schema, made to create its object in the image's. */
function inSchema(sql: string): string {
  const m = /^CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)\s+(IF\s+NOT\s+EXISTS\s+)?/i.exec(sql);
  if (!m) throw new Error(`the checkpoint image cannot copy this schema object: ${sql.slice(0, 80)}`);
  return `${m[0]}${IMAGE_SCHEMA}.${sql.slice(m[0].length)}`;
}
