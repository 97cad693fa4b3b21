/**
 * A UUID v7 of a given instant, made without `uuidv7`: that one never goes back in time within a
 * process, and the pure tests share their workers' modules (isolate: false), so a test that made a
 * v7 "now" would move the clock of every test file after it in the same worker.
 */
import { randomBytes } from 'node:crypto';

export function v7At(ms: number = Date.now()): string {
  const t = Math.floor(ms).toString(16).padStart(12, '0');
  const r = randomBytes(10).toString('hex');
  const variant = ((parseInt(r[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(0, 3)}-${variant}${r.slice(4, 7)}-${r.slice(7, 19)}`;
}
