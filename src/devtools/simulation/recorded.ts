/**
 * A simulated run as the explorer opens it: after the run, every orchestrator instance's store is
 * read (read-only, as the explorer's queries read a live one) and each saga's trace collected,
 * so `npm run simulate -- --seed S --explore` can show the run's sagas like stored ones.
 */
import Database from 'better-sqlite3';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkoutReplay, checkoutTraceOf } from '../../actors/checkout/explorer-queries.ts';
import type { RecordedRun } from '../explorer/recorded.ts';
import { latestActors } from '../../runtime/journal-queries.ts';

/** Every saga in the run's orchestrator stores under `dir` (one file per instance, `checkout-<n>.db`). */
export function recordedRunOf(dir: string, title: string): RecordedRun {
  const checkouts: RecordedRun['checkouts'] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (!/^checkout(-\d+)?\.db$/.test(entry)) continue;
    const file = join(dir, entry);
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      for (const a of latestActors(db, 'checkout', checkoutReplay)) {
        const t = checkoutTraceOf(db, a.id);
        if (t) checkouts.push(t);
      }
    } finally {
      db.close();
    }
  }
  return { title, checkouts };
}
