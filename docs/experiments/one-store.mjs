// One store for every service of an embedded process, measured before building it (#14): the same rows
// per turn of the event loop, committed as seven stores' group commits (one file each, as today) or as ONE
// commit in one file (per-service tables, or shared tables keyed by service). SQLite and fdatasync only.
// The rows per commit and the share of turns each store commits in are those counted in an embedded
// C=64 run (docs/benchmarks.md, "One store per embedded process").
// Usage (from the project root): node docs/experiments/one-store.mjs "$PWD/node_modules/better-sqlite3" seven|one|shared [FULL|NORMAL] [turns=3000]
// Count write syscalls with: strace -f -c -e trace=pwrite64,fdatasync node docs/experiments/one-store.mjs ...
import { createRequire } from 'node:module';
import { fdatasyncSync, mkdtempSync, openSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const require = createRequire(import.meta.url);
const Database = require(process.argv[2]);
const layout = process.argv[3] ?? 'seven';
const sync = process.argv[4] ?? 'FULL';
const turns = Number(process.argv[5] ?? 3000);
const dir = mkdtempSync(join(tmpdir(), 'one-store-'));
// Per store and commit: [journal appends, random-key upserts]; and the share of turns it commits in.
const stores = { bus: [29, 10], checkout: [19, 4], cart: [24, 4], inventory: [9, 3], payment: [9, 3], order: [10, 3], promotion: [11, 1] };
const share = { bus: 1, checkout: 0.62, cart: 0.49, inventory: 0.36, payment: 0.35, order: 0.28, promotion: 0.25 };

function open(path) {
  const db = new Database(path);
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL'); // as store.ts: FULL is NORMAL plus an fdatasync of the WAL per commit
  db.pragma('temp_store = MEMORY');
  db.pragma('wal_autocheckpoint = 8192');
  db.exec('CREATE TABLE meta (k)'); // the WAL exists once something is written
  return { db, fd: openSync(`${path}-wal`, 'r+') };
}
const tables = (p) => `CREATE TABLE ${p}journal (pos INTEGER PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS ${p}actors (id TEXT PRIMARY KEY, snap TEXT NOT NULL) WITHOUT ROWID;`;
const files = [];
const stmts = {};
for (const s of Object.keys(stores)) {
  if (layout === 'seven' || files.length === 0) files.push(open(join(dir, layout === 'seven' ? `${s}.db` : 'all.db')));
  const f = files[files.length - 1];
  const p = layout === 'shared' ? '' : `${s}_`;
  if (layout !== 'shared' || s === 'bus') f.db.exec(tables(p));
  stmts[s] = {
    f,
    append: f.db.prepare(`INSERT INTO ${p}journal (body) VALUES (?)`),
    upsert: f.db.prepare(`INSERT INTO ${p}actors (id, snap) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET snap = excluded.snap`),
  };
}
const body = 'x'.repeat(700);
const snap = 'y'.repeat(900);
let seed = 1;
const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
let commits = 0;
const cpu0 = process.cpuUsage();
const wall0 = Date.now();
for (let t = 0; t < turns; t++) {
  const active = Object.keys(stores).filter((s) => rand() < share[s]);
  for (const group of layout === 'seven' ? active.map((s) => [s]) : [active]) {
    const { f } = stmts[group[0]];
    f.db.exec('BEGIN IMMEDIATE');
    for (const s of group) {
      const [appends, upserts] = stores[s];
      for (let i = 0; i < appends; i++) stmts[s].append.run(body);
      for (let i = 0; i < upserts; i++) stmts[s].upsert.run(`${s}:${Math.floor(rand() * 20000)}`, snap);
    }
    f.db.exec('COMMIT');
    commits++;
    if (sync === 'FULL') fdatasyncSync(f.fd);
  }
}
const cpu = process.cpuUsage(cpu0);
const bytes = files.reduce((n, f) => n + statSync(f.db.name).size + statSync(`${f.db.name}-wal`).size, 0);
console.log(JSON.stringify({ exp: 'one-store', layout, sync, turns, commits, cpuMsPerTurn: +((cpu.user + cpu.system) / 1000 / turns).toFixed(3), userMs: Math.round(cpu.user / 1000), sysMs: Math.round(cpu.system / 1000), wallMs: Date.now() - wall0, fileMiB: +(bytes / 2 ** 20).toFixed(1) }));
for (const f of files) (f.db.close(), closeSync(f.fd));
rmSync(dir, { recursive: true, force: true });
