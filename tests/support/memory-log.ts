/**
 * The ReplicatedLog contract in memory, for unit tests of the journal's replication (the real one,
 * NatsLog over JetStream, is tested against nats-server in tests/int/journal-replication.test.ts):
 * one sequence for the whole log, an append refused unless the subject's last sequence is the one
 * expected, a repeated message id acknowledged with its first sequence.
 */
import type { Headers } from '../../src/contracts/headers.ts';
import { LogFenced, type LogEntry, type ReplicatedLog } from '../../src/runtime/transport/transport.ts';

export class MemoryLog implements ReplicatedLog {
  readonly entries: Array<LogEntry & { subject: string; msgId: string }> = [];
  private seq = 0;

  append(subject: string, data: string, headers: Headers, msgId: string, expectLastSeq: number): Promise<number> {
    const dup = this.entries.find((e) => e.msgId === msgId);
    if (dup) return Promise.resolve(dup.seq);
    const last = this.lastOf(subject);
    if ((last?.seq ?? 0) !== expectLastSeq) return Promise.reject(new LogFenced(subject, expectLastSeq));
    this.entries.push({ subject, msgId, seq: ++this.seq, headers: { ...headers, 'Nats-Msg-Id': msgId }, data });
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
