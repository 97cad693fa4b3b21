/**
 * Rebuilding a store from its replicated journal (replication.ts), when this process takes a slot
 * whose store it does not hold (an empty DATA_DIR: a lost machine) or holds behind or apart from
 * the log (a stale owner's unreplicated tail, which is dropped: nobody was told of it).
 *
 * The slot's subject, once trimmed, starts at its latest checkpoint marker (or at its first record,
 * if no checkpoint was ever taken); it is read from where the latest checkpoint says its uncovered
 * records start (readFromOf), so a trim not yet done costs nothing. The rebuild
 *   1. writes the checkpoint's image (the whole SQLite file: actors, retained records, and every
 *      table the service's executors write) in place of the local files, or starts an empty store
 *      and loads the service's seed into it, as its first start did;
 *   2. appends every record after the checkpoint's position, at its own position (each one from there
 *      to the log's head: one missing from what was read fails the rebuild, JournalGap), and re-runs its
 *      executors' table writes (actor-host.ts, replayTableWrites): the stock a reservation held,
 *      the payment row, the order index; the machines are pure and the executors depend on the
 *      record alone, so the tables come out as they were (a record that leaves its snapshot out,
 *      format 2, gets it by replaying its event from the actor's previous one, record-replay.ts);
 *   3. closes the store. Opening it as usual (journal.ts) then applies those records to memory: the
 *      actors' latest snapshots, armed timers, pending requests, the inbox window.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { replayTableWrites, type ActorDefinition } from './actor-host.ts';
import type { JournalRecord } from './journal-record.ts';
import { kindReplay, latestAfterCheckpoint, needsReplay, type ReplayBase } from './record-replay.ts';
import type { PersistedSnapshot } from './versioning.ts';
import { checkpointSubject, decodeRecords, JournalHeader, logHeadOf } from './replication.ts';
import { Store, type Migration, type StoreOptions } from './store.ts';
import type { LogEntry, ReplicatedLog } from './transport/transport.ts';

/** How long a rebuild applies records before it lets the event loop run (and commits). */
const APPLY_SLICE_MS = 20;

/** What a service's store needs to be rebuilt: its schema, the definitions whose executors write its tables, its seed. */
export interface RebuildKit {
  migrations: readonly Migration[];
  definitions: readonly ActorDefinition[];
  /** Loads the seed into an empty store, as the service's first start does (a store with data is left alone). */
  seed(store: Store): Promise<unknown>;
}

export interface Rebuilt {
  /** The position the checkpoint covered (0: none). */
  checkpoint: number;
  /** Records applied after it. */
  records: number;
  /** The subject's last message as the rebuild read it (the fence that follows appends after it). */
  last: LogEntry | undefined;
  /** Messages of the slot's subject read. */
  messages: number;
  /** Of those, messages of records only that held none after the checkpoint (a trim not yet done). */
  covered: number;
  /** Records read a second time at their position, the same record (a tail shipped twice), skipped. */
  repeated: number;
  /** How long each step took (ms): reading the subject, the checkpoint's image (of which reading its chunks, and unzipping them; the rest writes the file), applying the records. */
  phases: { readMs: number; imageMs: number; imageReadMs: number; imageUnzipMs: number; applyMs: number };
}

/** Replaces the store at `path` with the slot's state as its log holds it. */
export async function rebuildStore(
  path: string,
  kit: RebuildKit,
  log: ReplicatedLog,
  subject: string,
  storeOptions: Pick<StoreOptions, 'locking' | 'pageSize'> = {},
  sliceMs = APPLY_SLICE_MS,
  /** What the opening already asked: the subject's last message (the check that found the store behind), where to read from (readFromOf, asked beside it). */
  known: { last?: LogEntry | undefined; readFrom?: Promise<ReadStart> | undefined } = {},
): Promise<Rebuilt> {
  let at = performance.now();
  const lap = (): number => {
    const now = performance.now();
    const ms = Math.round(now - at);
    at = now;
    return ms;
  };
  const [last, start] = await Promise.all([known.last ?? log.last(subject), known.readFrom ?? readFromOf(log, subject)]);
  // The latest checkpoint's image, read beside the journal: it is almost always the one whose
  // marker the read finds (not: its owner was lost between the marker and the `readFrom`).
  const prefetched = start.chunks === undefined ? undefined : { chunks: start.chunks, image: checkpointChunks(log, subject, start.chunks) };
  prefetched?.image.catch(() => undefined); // awaited below if its marker is the one found
  const messages: LogEntry[] = [];
  if (last) await log.read(subject, start.from - 1, last.seq, (e) => messages.push(e));
  const readMs = lap();
  const marker = messages.findLast((m) => m.headers[JournalHeader.checkpoint] !== undefined);
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  mkdirSync(dirname(path), { recursive: true });
  const covered = marker ? Number(marker.headers[JournalHeader.to] ?? 0) : 0;
  let imageReadMs = 0;
  let imageUnzipMs = 0;
  if (marker) {
    const chunks = marker.headers[JournalHeader.checkpoint] ?? '';
    const zipped = await (prefetched?.chunks === chunks ? prefetched.image : checkpointChunks(log, subject, chunks));
    imageReadMs = lap();
    // On this thread: a few MB unzip in milliseconds, while zlib's asynchronous calls wait in
    // libuv's pool of four threads behind every checkpoint's gzip in the process (a survivor's
    // openings each start with one): 1.2-1.5 s of the image's 1.5-1.7 s in the cluster test.
    const image = gunzipSync(zipped);
    imageUnzipMs = lap();
    writeFileSync(path, image);
  }
  const imageMs = imageReadMs + imageUnzipMs + lap();
  // synchronous=NORMAL whatever the service runs with: no fdatasync per slice (each one queued in
  // libuv's four threads behind the process's other commits' syncs and its checkpoints' gzips, while
  // the survivor serves and takes over at once), and the close's checkpoint syncs the WAL and then
  // the file (SQLite's NORMAL in WAL mode), so the store is on disk before the slot reopens it. A
  // crash or power loss before that leaves a store behind its log (NORMAL in WAL mode loses commits,
  // never the file's integrity), which the next opening rebuilds again: nobody was told of anything
  // a rebuild writes, it is all in the log already.
  const store = new Store({ path, migrations: kit.migrations, ...storeOptions, synchronous: 'NORMAL' });
  let records = 0;
  let coveredMessages = 0;
  /** Records read again, the same, at a position already applied (see below). */
  let repeated = 0;
  try {
    if (!marker) await kit.seed(store);
    const defs = new Map(kit.definitions.map((d) => [d.kind, d]));
    const replayers = new Map(kit.definitions.map((d) => [d.kind, kindReplay(d)]));
    const db = store.db;
    // Each actor's snapshot as the image leaves it, then after each record applied.
    const latest = new Map<string, ReplayBase>(latestAfterCheckpoint(db, replayers));
    const rowOf = db.prepare('SELECT snapshot, machine_version FROM actors WHERE kind = ? AND id = ?');
    const insert = db.prepare('INSERT INTO journal (pos, kind, id, seq, prev, at, inbox_key, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const latestOf = db.prepare('SELECT max(pos) FROM journal WHERE kind = ? AND id = ?').pluck();
    const prev = new Map<string, number | null>();
    const apply = (pos: number, json: string): void => {
      const r = JSON.parse(json) as JournalRecord;
      const key = `${r.kind}/${r.id}`;
      const before = prev.has(key) ? prev.get(key)! : ((latestOf.get(r.kind, r.id) as number | null) ?? null);
      insert.run(pos, r.kind, r.id, r.seq, before, r.at, r.inbox?.key ?? null, json);
      prev.set(key, pos);
      records++;
      const def = defs.get(r.kind);
      if (!def) return;
      let after: PersistedSnapshot | undefined = r.snapshot;
      let live: ReplayBase['live'];
      if (r.snapshot) latest.set(key, { persisted: r.snapshot, version: r.version ?? def.version });
      else if (needsReplay(r)) {
        const row = latest.has(key) ? undefined : (rowOf.get(r.kind, r.id) as { snapshot: string; machine_version: string } | undefined);
        const base = latest.get(key) ?? (row && { persisted: JSON.parse(row.snapshot) as PersistedSnapshot, version: row.machine_version });
        const replayed = replayers.get(r.kind)!.replay(base, r);
        latest.set(key, replayed);
        after = replayed.persisted;
        live = replayed.live;
      }
      replayTableWrites(def, r, db, after, live);
    };
    // The records must run on from the position the image covers to the log's head, one by one: a
    // message missing from what was read would leave a store that passes the head's check (its last
    // record is there) yet lacks records, and would serve without them. The rebuild fails instead
    // (JournalGap): the slot's opening fails, its lease is let go, and the opening is tried again.
    //
    // A record read again at its position, the same record, is skipped: a log written before
    // markers carried the log's head (replication.ts, logHeadOf) may hold a tail shipped twice by a
    // new owner that took a checkpoint's marker for the head. The same position with another record
    // is two histories, which no rebuild may pick between: JournalGap.
    const head = last ? logHeadOf(last).pos : 0;
    const pending = (function* () {
      let next = covered + 1;
      /** The records this rebuild applied, by position (a copy read later is compared with them). */
      const applied = new Map<number, string>();
      for (const m of messages) {
        if (m.headers[JournalHeader.checkpoint] !== undefined || m.headers[JournalHeader.fence] !== undefined) continue;
        if (Number(m.headers[JournalHeader.to] ?? Infinity) <= covered) {
          coveredMessages++;
          continue;
        }
        for (const [pos, json] of decodeRecords(m.data)) {
          if (pos <= covered) continue;
          if (pos < next && applied.get(pos) === json) {
            repeated++;
            continue;
          }
          if (pos !== next) throw new JournalGap(subject, next, pos);
          applied.set(pos, json);
          next++;
          yield [pos, json] as const;
        }
      }
      if (next - 1 < head) throw new JournalGap(subject, next, undefined);
    })();
    // Applied in slices of about `sliceMs` (at least one record each), each its own transaction, the event loop let go
    // between them: a rebuild of hundreds of records replays each actor's machine and re-runs its
    // executors, seconds of CPU on a loaded machine, and while the loop is held this process
    // renews none of its leases and self-fences every slot it serves (seen in the cluster test:
    // a survivor rebuilding cart's 414 records lost its four other slots 6.5 s after the kill).
    // A crash between slices leaves a store behind its log, which the next open rebuilds again.
    const commits: Promise<unknown>[] = [];
    // A slice that throws is rolled back, and nothing after it may be applied without it.
    for (let done = false, failed = false; !done && !failed; ) {
      const slice = store.write(() => {
        const until = performance.now() + sliceMs;
        try {
          for (;;) {
            const next = pending.next();
            if (next.done) return void (done = true);
            apply(...next.value);
            if (performance.now() >= until) return;
          }
        } catch (err) {
          failed = true;
          throw err;
        }
      });
      slice.catch(() => undefined); // awaited below
      commits.push(slice);
      if (!done && !failed) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(commits);
  } finally {
    await store.close();
  }
  return { checkpoint: covered, last, records, messages: messages.length, covered: coveredMessages, repeated, phases: { readMs, imageMs, imageReadMs, imageUnzipMs, applyMs: lap() } };
}

/**
 * The sequence a read of the slot's journal may start at: a checkpoint's `readFrom`, if the last
 * message beside its images is one (else 1, the whole subject: no checkpoint yet, or the owner was
 * lost while it published an image). Every message holding a record that checkpoint's marker does
 * not cover is at or above it (replication.ts), and so is every later marker (a later checkpoint
 * whose `readFrom` is missing: lost between its marker and it), whose own uncovered records are a
 * part of those; what lies below holds only covered records, and is there only while a trim lags.
 * Another writer's late `readFrom` (a fenced owner's) names an earlier checkpoint: more is read,
 * nothing is missed.
 */
export async function readFromOf(log: ReplicatedLog, subject: string): Promise<ReadStart> {
  const at = await log.last(checkpointSubject(subject));
  const from = Number(at?.headers[JournalHeader.readFrom] ?? 1);
  return { from: Number.isSafeInteger(from) && from >= 1 ? from : 1, chunks: at?.headers[JournalHeader.readFrom] === undefined ? undefined : at.headers[JournalHeader.chunks] };
}

/**
 * A rebuild read the slot's records with one missing (a message of the journal not in what was
 * read): the store it would make lacks that record. Not a transient failure of NATS, but one a
 * later read may not share, nor another process whose own store holds the record.
 */
export class JournalGap extends Error {
  override readonly name = 'JournalGap';
  constructor(
    readonly subject: string,
    /** The position due next. */
    readonly expected: number,
    /** The position read in its place (undefined: the read ended before the log's head). */
    readonly found: number | undefined,
  ) {
    super(`${subject}: the rebuild read record ${found === undefined ? 'nothing more' : found} where ${expected} was due`);
  }
}

/** Where a rebuild's read of the journal starts, and the chunks of the checkpoint that said so (if it named them). */
export interface ReadStart {
  from: number;
  chunks: string | undefined;
}

/** The gzipped SQLite file a checkpoint marker names (`chunks`: first-last sequence): its chunks (only those of its own checkpoint id), joined. */
async function checkpointChunks(log: ReplicatedLog, subject: string, chunks: string): Promise<Buffer> {
  const [first, lastChunk] = chunks.split('-').map(Number) as [number, number];
  const parts: string[] = [];
  let id: string | undefined;
  await log.read(checkpointSubject(subject), first - 1, lastChunk, (e) => {
    id ??= e.headers[JournalHeader.checkpoint];
    if (e.headers[JournalHeader.checkpoint] === id) parts.push(e.data);
  });
  if (parts.length === 0) throw new Error(`${subject}: the checkpoint's chunks ${first}-${lastChunk} are gone`);
  return Buffer.from(parts.join(''), 'base64');
}
