/**
 * A journal's trim on a server where it deletes one message at a time (a 2.9 cluster before 2.9.18:
 * src/runtime/transport/nats-log.ts, trim), on a real nats-server with the delete path forced. Two
 * trims of one subject at once (a trim retried while the last one still deletes, or two owners'
 * trims around a takeover) delete the same messages: the second delete of each is answered
 * "no message found", which nats-server 2.9.10 gives as error 10057, not the 10037 nats.js names
 * NoMessageFound. Before, that failed the trim; what a trim wants is the message gone, and it is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalStream, journalSubject } from '../../src/contracts/subjects.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { NatsLog } from '../../src/runtime/transport/nats-log.ts';
import type { LogEntry, ReplicatedLog } from '../../src/runtime/transport/transport.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';

describe("a journal's trim by deletes, on a real nats-server", () => {
  let nats: NatsServerHandle;
  let transport: NatsTransport;
  let log: ReplicatedLog;

  beforeAll(async () => {
    nats = await startNatsServer();
    transport = await connectNats({ servers: nats.url, ...credentialsFor('inventory'), inboxPrefix: '_INBOX.inventory', onError: () => undefined });
    log = await transport.replicatedLog(JournalStream.name, JournalStream.subjects);
  });

  afterAll(async () => {
    await transport.drain();
    await nats.stop();
  });

  it('two trims of the same messages at once both succeed, and leave exactly what was kept', async () => {
    const subject = journalSubject('inventory', 'trim-twice');
    let seq = 0;
    const seqs: number[] = [];
    for (let i = 1; i <= 40; i++) seqs.push((seq = await log.append(subject, `[${i}]`, {}, `trim-twice:${i}`, seq)));
    // A log that deletes one message at a time, as on a cluster whose purge is unsafe.
    const byDeletes = new NatsLog(JournalStream.name, transport.nc, () => Promise.reject(new Error('appends go through the other log')), () => undefined, 10_000, () => false);
    const keepFrom = seqs[30]!;
    await Promise.all([byDeletes.trim(subject, keepFrom), byDeletes.trim(subject, keepFrom)]);
    const left: LogEntry[] = [];
    await log.read(subject, 0, seq, (e) => left.push(e));
    expect(left.map((e) => e.seq)).toEqual(seqs.slice(30));
  }, 60_000);
});
