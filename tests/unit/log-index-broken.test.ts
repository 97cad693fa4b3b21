/**
 * A log server that does not agree with itself about a journal subject (src/runtime/transport/
 * nats-log.ts, LogIndexBroken): seen on nats-server 2.9.10 after a node's silent cut healed, a
 * leader that found no last message for a subject its count said held 13, and a new leader that
 * answered one journal's `last_by_subj` with another journal's last message (docs/benchmarks.md,
 * "The journal's index lost"). The server bug cannot be brought about at will, so the guard on a
 * get's answer is checked here on its own; that an opening which meets it is retried, not fatal,
 * is in tests/unit/leased-slot-start.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ofSubject } from '../../src/runtime/transport/nats-log.ts';
import { LogIndexBroken } from '../../src/runtime/transport/transport.ts';

describe("a get's answer about a journal subject", () => {
  it('is taken when it is a message of that subject', () => {
    const m = { subject: 'journal.order.0', seq: 452 };
    expect(ofSubject(m, 'journal.order.0')).toBe(m);
  });

  it("is refused (LogIndexBroken) when it is another subject's message: a rebuild or a fence must never take it for the slot's", () => {
    const answer = () => ofSubject({ subject: 'journal.payment.0', seq: 463 }, 'journal.order.0');
    expect(answer).toThrow(LogIndexBroken);
    expect(answer).toThrow('journal.order.0: the log\'s server answered with message 463 of journal.payment.0');
  });
});
