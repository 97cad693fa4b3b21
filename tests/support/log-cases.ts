/**
 * The ReplicatedLog contract (src/runtime/transport/transport.ts) as cases any log on a real
 * nats-server must pass: the shared JOURNAL stream (NatsLog: tests/int/journal-replication.test.ts,
 * tests/int/nats-cas.test.ts) and a stream per slot (NatsSlotLog: tests/int/nats-slot-log.test.ts).
 */
import { expect } from 'vitest';
import { JournalHeader } from '../../src/runtime/replication.ts';
import { LogFenced, type LogEntry, type ReplicatedLog } from '../../src/runtime/transport/transport.ts';

/** Appends only after the last sequence the writer names; a lost acknowledgement retried is the same append; reads and trims. */
export async function appendsAfterTheLastSequence(log: ReplicatedLog, subject: string): Promise<void> {
  // An empty subject has no last message.
  expect(await log.last(subject)).toBeUndefined();
  const s1 = await log.append(subject, '[]', { [JournalHeader.to]: '1' }, 'c:1', 0);
  const s2 = await log.append(subject, '[]', { [JournalHeader.to]: '2' }, 'c:2', s1);
  expect(s2).toBeGreaterThan(s1);
  // The same append again (its ack was lost): acknowledged with its sequence, not stored twice.
  expect(await log.append(subject, '[]', {}, 'c:2', s1)).toBe(s2);
  // A writer that still believes s1 is the last (a stale owner) is fenced.
  // It is the same expected sequence as the append above, so the server takes it for a repeat of
  // that one (its message id); what the log answered is in the error, for the logs.
  const fenced = await log.append(subject, '[]', {}, 'stale:2', s1).catch((err: unknown) => err);
  expect(fenced).toBeInstanceOf(LogFenced);
  expect((fenced as LogFenced).found).toEqual({ last: s2, how: 'repeat' });
  expect((fenced as LogFenced).message).toContain(`the subject's last message: ${s2}`);
  // A writer that believes the subject is empty is fenced too.
  await expect(log.append(subject, '[]', {}, 'stale:1', 0)).rejects.toBeInstanceOf(LogFenced);
  // And one expecting a sequence never used (no earlier append had its message id): refused by the server itself.
  const refused = await log.append(subject, '[]', {}, 'stale:3', s2 + 1_000).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(LogFenced);
  expect((refused as LogFenced).found).toEqual({ last: s2, how: 'refused' });
  expect((await log.last(subject))?.seq).toBe(s2);
  const s3 = await log.append(subject, '[]', { [JournalHeader.to]: '3' }, 'c:3', s2);
  const read: LogEntry[] = [];
  await log.read(subject, s1, s3, (e) => read.push(e));
  expect(read.map((e) => [e.seq, e.headers[JournalHeader.to]])).toEqual([[s2, '2'], [s3, '3']]);
  await log.trim(subject, s3);
  const left: LogEntry[] = [];
  await log.read(subject, 0, s3, (e) => left.push(e));
  expect(left.map((e) => e.seq)).toEqual([s3]);
  expect((await log.last(subject))?.seq).toBe(s3);
}

/** Writers racing on the same expected sequence (one per node, say): exactly one append is stored each round, the others are fenced. */
export async function concurrentAppendsOneWins(logs: readonly ReplicatedLog[], subject: string, rounds: number): Promise<void> {
  let last = 0;
  for (let i = 0; i < rounds; i++) {
    // The same positions from every writer, as two owners of a slot that both read the same head.
    const results = await Promise.allSettled(logs.map((log, j) => log.append(subject, `w${j}`, {}, `${subject}:${i + 1}-${i + 1}`, last)));
    const stored = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(stored).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LogFenced);
    last = stored[0]!;
  }
}

/** A stale writer's append after the new owner's at the same positions is fenced, not taken for a repeat. */
export async function staleAppendFenced(log: ReplicatedLog, subject: string): Promise<void> {
  const head = await log.append(subject, 'head', {}, `${subject}:1-1`, 0);
  // The new owner appends positions 2-2 after the head; the old one's append of its own 2-2 arrives later.
  const mine = await log.append(subject, 'new owner', {}, `${subject}:2-2`, head);
  await expect(log.append(subject, 'old owner', {}, `${subject}:2-2`, head)).rejects.toBeInstanceOf(LogFenced);
  // A repeat of an append that was stored (its acknowledgement lost) is still answered with its sequence.
  expect(await log.append(subject, 'new owner', {}, `${subject}:2-2`, head)).toBe(mine);
  expect((await log.last(subject))!.data).toBe('new owner');
}
