/**
 * What the partition tests (netsplit.test.ts: a process cut off from NATS; nodesplit.test.ts: a
 * node cut off from the others) read and retry alike: who holds each slot's lease, lease terms
 * from a process's log, whether every journal is still one chain, and calls retried until answered.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bucket, JournalStream, journalSubject, type Service } from '../../src/contracts/subjects.ts';
import { JournalHeader } from '../../src/runtime/replication.ts';
import { leaseKey } from '../../src/runtime/slot-lease.ts';
import { isTransient } from '../../src/runtime/transport/errors.ts';
import type { NatsTransport } from '../../src/runtime/transport/nats.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The owner id a process wrote to its data directory (`root/name/slot-owner`), or '?'. */
export function ownerName(root: string, name: string): string {
  try {
    return readFileSync(join(root, name, 'slot-owner'), 'utf8').trim();
  } catch {
    return '?';
  }
}

/** The process (by name, its data directory under `root`) each service's slot 0 lease names now; '' for none. */
export async function leaseHolders(admin: NatsTransport, root: string, procs: Iterable<string>, services: readonly string[]): Promise<Record<string, string>> {
  const kv = await admin.kv(Bucket.journalLeases);
  const names = new Map([...procs].map((n) => [ownerName(root, n), n]));
  const out: Record<string, string> = {};
  for (const s of services) {
    const e = await kv.get(leaseKey(s, '0')).catch(() => undefined);
    out[s] = names.get(e ? (JSON.parse(e.value) as { owner: string }).owner : '') ?? '';
  }
  return out;
}

export interface LogLine {
  time: number;
  msg: string;
  slot?: string;
  service?: string;
}

/** A process's JSON log lines. */
export const logLines = (output: string): LogLine[] =>
  output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

export interface LeaseTerm {
  slot: string;
  from: number;
  /** Infinity while held. */
  to: number;
  name: string;
}

/** Lease terms from a process's log: taken at, lost or handed over at. */
export function leaseTerms(name: string, output: string): LeaseTerm[] {
  const out: LeaseTerm[] = [];
  const open = new Map<string, number>();
  for (const e of logLines(output)) {
    if (!e.slot) continue;
    if (e.msg.startsWith('slot lease taken')) open.set(e.slot, e.time);
    else if ((e.msg.startsWith('slot lease lost') || e.msg.startsWith('slot handed over')) && open.has(e.slot)) {
      out.push({ slot: e.slot, from: open.get(e.slot)!, to: e.time, name });
      open.delete(e.slot);
    }
  }
  for (const [slot, from] of open) out.push({ slot, from, to: Infinity, name });
  return out;
}

/**
 * Every service's journal subject (slot 0) is one chain: each message's first record follows the
 * last one's, markers (fence, checkpoint) repeat it. A late append of a fenced owner, had the
 * stream taken it, would repeat positions the new owner wrote.
 */
export async function journalChains(admin: NatsTransport, services: readonly Service[]): Promise<{ breaks: string[] }> {
  const js = jetstream(admin.nc);
  const jsm = await jetstreamManager(admin.nc, { checkAPI: false });
  const breaks: string[] = [];
  for (const s of services) {
    const subject = journalSubject(s, '0');
    const last = await jsm.streams.getMessage(JournalStream.name, { last_by_subj: subject }).catch(() => null);
    if (!last) continue;
    const consumer = await js.consumers.get(JournalStream.name, { filter_subjects: subject });
    let prev: number | undefined;
    let seen = 0;
    const messages = await consumer.consume();
    for await (const m of messages) {
      seen = m.seq;
      const from = m.headers?.get(JournalHeader.from);
      const to = Number(m.headers?.get(JournalHeader.to) ?? 0);
      if (m.headers?.get(JournalHeader.checkpoint)) {
        // A checkpoint marker names the position its image covers, at or below the head.
        if (prev !== undefined && to > prev) breaks.push(`${subject} seq ${m.seq}: a checkpoint at ${to} beyond the head ${prev}`);
      } else {
        if (prev !== undefined && (from ? Number(from) : to) !== (from ? prev + 1 : prev)) breaks.push(`${subject} seq ${m.seq}: from ${from ?? '-'} to ${to} after ${prev}`);
        prev = to;
      }
      // Up to the last message the server names, or the end of what the consumer has (they disagreed
      // once, nats-server 2.9.10 after a silent cut: the check then waited for a message that never came).
      if (m.seq >= last.seq || m.info.pending === 0) break;
    }
    await messages.close();
    if (seen < last.seq) breaks.push(`${subject}: last_by_subj names ${last.seq}, a consumer of the subject ends at ${seen}`);
  }
  return { breaks };
}

/**
 * What the JOURNAL stream holds of each service's journal subject, for a run's record: the stream's
 * state, and per subject its message count (from the stream's own index), its last message as the
 * leader answers `last_by_subj`, and every message's sequence, positions and kind as a consumer
 * reads them. Where the chains break, this says whether messages are missing or written twice.
 */
export async function journalDump(admin: NatsTransport, services: readonly Service[], restartNode?: (name: string) => Promise<void>): Promise<object> {
  const js = jetstream(admin.nc);
  const jsm = await jetstreamManager(admin.nc, { checkAPI: false });
  const info = await jsm.streams.info(JournalStream.name, { subjects_filter: 'journal.>' }).catch((err: unknown) => ({ error: String(err) }));
  const state = 'state' in info ? { first: info.state.first_seq, last: info.state.last_seq, messages: info.state.messages, deleted: info.state.num_deleted, subjects: info.state.subjects } : info;
  const subjects: Record<string, object> = {};
  for (const s of services) {
    const subject = journalSubject(s, '0');
    const last = await jsm.streams.getMessage(JournalStream.name, { last_by_subj: subject }).then(
      (m) => (m ? m.seq : 'none'),
      (err: unknown) => `error: ${String(err)}`,
    );
    const messages: string[] = [];
    const consumer = await js.consumers.get(JournalStream.name, { filter_subjects: subject, headers_only: true });
    const read = await consumer.fetch({ max_messages: 10_000, expires: 2_000 });
    for await (const m of read) {
      const h = (k: string) => m.headers?.get(k) ?? '';
      const kind = h(JournalHeader.checkpoint) ? 'checkpoint' : h(JournalHeader.fence) ? 'fence' : 'records';
      messages.push(`${m.seq}:${kind}:${h(JournalHeader.from)}-${h(JournalHeader.to)}`);
      if (m.info.pending === 0) break;
    }
    subjects[subject] = { last, messages };
  }
  // A subject the leader finds no last message for while the stream counts some: does a new
  // leader (another replica's index) answer right? (docs/benchmarks.md, "The journal's index lost")
  const broken = Object.entries(subjects).filter(([s, v]) => (v as { last: unknown }).last === 'none' && (state as { subjects?: Record<string, number> }).subjects?.[s]);
  if (broken.length === 0) return { state, subjects };
  const before = await jsm.streams.info(JournalStream.name).then((i) => i.cluster?.leader ?? '?', () => '?');
  await admin.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${JournalStream.name}`, undefined, { timeout: 5_000 }).catch(() => undefined);
  const afterStepdown: Record<string, unknown> = {};
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const leader = await jsm.streams.info(JournalStream.name).then((x) => x.cluster?.leader ?? '', () => '');
    if (!leader || leader === before) continue;
    afterStepdown.leader = `${before} -> ${leader}`;
    for (const [s] of broken) {
      afterStepdown[s] = await jsm.streams.getMessage(JournalStream.name, { last_by_subj: s }).then((m) => (m ? m.seq : 'none'), (err: unknown) => `error: ${String(err)}`);
    }
    break;
  }
  // Still wrong after a stepdown: does restarting the leader's node (its index rebuilt from its
  // blocks at start) repair it? An operator's remedy, if it does.
  const stillBroken = broken.filter(([s]) => afterStepdown[s] === 'none' || (typeof afterStepdown[s] === 'number' && afterStepdown[s] !== Number(((subjects[s] as { messages: string[] }).messages.at(-1) ?? '0').split(':')[0])));
  if (!restartNode || stillBroken.length === 0) return { state, subjects, afterStepdown };
  const leader = await jsm.streams.info(JournalStream.name).then((x) => x.cluster?.leader ?? '', () => '');
  const afterRestart: Record<string, unknown> = { restarted: leader };
  if (leader) {
    await restartNode(leader);
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const answers = await Promise.all(stillBroken.map(([s]) => jsm.streams.getMessage(JournalStream.name, { last_by_subj: s }).then((m) => (m ? m.seq : 'none'), () => undefined)));
      if (answers.some((a) => a === undefined)) continue;
      stillBroken.forEach(([s], k) => (afterRestart[s] = answers[k]));
      afterRestart.leader = await jsm.streams.info(JournalStream.name).then((x) => x.cluster?.leader ?? '', () => '');
      break;
    }
  }
  return { state, subjects, afterStepdown, afterRestart };
}

/** Calls until answered: transport trouble and UNAVAILABLE are retried (same idempotency key), anything else thrown. */
export async function retried<T>(call: () => Promise<T>): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isTransient(err) || Date.now() > end) throw err;
      await sleep(100);
    }
  }
}

export async function until(cond: () => boolean, ms: number, why: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms\n${why()}`);
    await sleep(100);
  }
}
