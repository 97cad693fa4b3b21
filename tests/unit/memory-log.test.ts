/**
 * The in-memory log appends as NatsLog does (tests/int/nats-cas.test.ts runs the same against an R3
 * cluster): a stale writer's late append of the positions a new owner appended is fenced, not taken
 * for a repeat of the new owner's, while the writer's own stored append, tried again, is answered
 * with its sequence. It once dropped the first as a repeated message id and acknowledged it, which
 * the unit tests of replication (tests/unit/takeover-property.test.ts) would have taken for the
 * stale owner's records being in the log.
 */
import { describe, expect, it } from 'vitest';
import { LogFenced } from '../../src/runtime/transport/transport.ts';
import { MemoryLog } from '../support/memory-log.ts';

describe('the in-memory log', () => {
  it("fences a stale writer's append after the new owner's at the same positions, and answers a repeat of a stored one", async () => {
    const log = new MemoryLog();
    const subject = 'journal.cas.0';
    const head = await log.append(subject, 'head', {}, `${subject}:1-1`, 0);
    const mine = await log.append(subject, 'new owner', {}, `${subject}:2-2`, head);
    await expect(log.append(subject, 'old owner', {}, `${subject}:2-2`, head)).rejects.toBeInstanceOf(LogFenced);
    expect(await log.append(subject, 'new owner', {}, `${subject}:2-2`, head)).toBe(mine);
    expect((await log.last(subject))!.data).toBe('new owner');
    expect(log.entries.map((e) => e.data)).toEqual(['head', 'new owner']);
  });
});
