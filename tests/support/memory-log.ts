/**
 * The ReplicatedLog contract in memory, for unit tests of the journal's replication (the real one,
 * NatsLog over JetStream, is tested against nats-server in tests/int/journal-replication.test.ts):
 * one sequence for the whole log, and an append as NatsLog makes it: refused unless the subject's
 * last sequence is the one expected, except that the writer's own append, already stored (its
 * acknowledgement lost), is answered with its sequence; a late append of the same positions by
 * another writer is fenced, not taken for a repeat of the stored one (tests/int/nats-cas.test.ts,
 * "a stale writer's append ..."). A put's repeated message id is acknowledged with its first sequence.
 */
import type { Headers } from '../../src/contracts/headers.ts';
import { LogFenced, type LogEntry, type ReplicatedLog } from '../../src/runtime/transport/transport.ts';

/** The caller's id of an append, stored with it (nats-log.ts). */
const APPEND_ID = 'Journal-Append-Id';

export class MemoryLog implements ReplicatedLog {
  readonly entries: Array<LogEntry & { subject: string; msgId: string }> = [];
  private seq = 0;

  append(subject: string, data: string, headers: Headers, msgId: string, expectLastSeq: number): Promise<number> {
    const last = this.lastOf(subject);
    if ((last?.seq ?? 0) !== expectLastSeq) {
      // NatsLog asks the subject's last message: this writer's own append, stored by an earlier try?
      if (last && last.headers[APPEND_ID] === msgId && last.data === data) return Promise.resolve(last.seq);
      return Promise.reject(new LogFenced(subject, expectLastSeq, { last: last?.seq, how: 'refused' }));
    }
    // Its message id names the expected sequence, as NatsLog's does; the caller's id goes with it.
    const id = `${subject}@${expectLastSeq}`;
    this.entries.push({ subject, msgId: id, seq: ++this.seq, headers: { ...headers, [APPEND_ID]: msgId, 'Nats-Msg-Id': id }, data });
    return Promise.resolve(this.seq);
  }

  put(subject: string, data: string, headers: Headers, msgId: string): Promise<number> {
    const dup = this.entries.find((e) => e.msgId === msgId);
    if (dup) return Promise.resolve(dup.seq);
    this.entries.push({ subject, msgId, seq: ++this.seq, headers: { ...headers, 'Nats-Msg-Id': msgId }, data });
    return Promise.resolve(this.seq);
  }

  last(subject: string): Promise<LogEntry | undefined> {
    return Promise.resolve(this.lastOf(subject));
  }

  read(subject: string, afterSeq: number, throughSeq: number, onEntry: (e: LogEntry) => void): Promise<void> {
    for (const e of this.entries) if (e.subject === subject && e.seq > afterSeq && e.seq <= throughSeq) onEntry(e);
    return Promise.resolve();
  }

  trim(subject: string, keepFromSeq: number): Promise<void> {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.subject === subject && e.seq < keepFromSeq) this.entries.splice(i, 1);
    }
    return Promise.resolve();
  }

  private lastOf(subject: string): (LogEntry & { subject: string; msgId: string }) | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.subject === subject) return this.entries[i];
    return undefined;
  }
}
