/**
 * A journal read's gets (src/runtime/transport/nats-log.ts, spreadRead) on a real nats-server: a
 * new owner's rebuild reads its slot's subject by `next_by_subj` direct gets, several chains at once
 * over parts of the range, a chain done with its part taking half of the widest part left, and an
 * empty stretch skipped by every part in it. What a read costs is counted in rounds: every get
 * asked in a round is answered at its end (the server answers each at once; the test holds the
 * answers back), so the rounds are the gets a read waits for one after another, its round trips.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalStream, journalSubject } from '../../src/contracts/subjects.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { spreadRead } from '../../src/runtime/transport/nats-log.ts';
import type { LogEntry, ReplicatedLog } from '../../src/runtime/transport/transport.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';

describe("a journal read's gets, on a real nats-server", () => {
  let nats: NatsServerHandle;
  let transport: NatsTransport;
  let log: ReplicatedLog;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nats = await startNatsServer();
    transport = await connectNats({ servers: nats.url, ...credentialsFor('inventory'), inboxPrefix: '_INBOX.inventory', onError: () => undefined });
    log = await transport.replicatedLog(JournalStream.name, JournalStream.subjects);
    jsm = await jetstreamManager(transport.nc, { checkAPI: false });
  });

  afterAll(async () => {
    await transport.drain();
    await nats.stop();
  });

  /** The subject's first message at or after `seq`, by the stream's direct get (what the log's reads ask). */
  const directGet = (subject: string) => async (seq: number): Promise<LogEntry | undefined> => {
    const query = { seq, next_by_subj: subject } as unknown as Parameters<JetStreamManager['direct']['getMessage']>[1];
    const m = await jsm.direct.getMessage(JournalStream.name, query);
    return m ? { seq: m.seq, headers: {}, data: m.string() } : undefined;
  };

  /** spreadRead over the server's gets, in rounds (see above): what it read, its rounds, and the gets it asked. */
  async function inRounds(subject: string, from: number, through: number, chains?: number): Promise<{ seqs: number[]; rounds: number; gets: number }> {
    const get = directGet(subject);
    const parked: Array<() => void> = [];
    let inFlight = 0;
    let gets = 0;
    const next = async (seq: number): Promise<LogEntry | undefined> => {
      inFlight++;
      gets++;
      const e = await get(seq);
      await new Promise<void>((release) => parked.push(release));
      inFlight--;
      return e;
    };
    let done = false;
    const reading = spreadRead(next, from, through, chains).finally(() => (done = true));
    let rounds = 0;
    for (;;) {
      while (!done && (parked.length === 0 || parked.length < inFlight)) await new Promise((r) => setImmediate(r));
      if (done) break;
      rounds++;
      for (const release of parked.splice(0)) release();
    }
    return { seqs: (await reading).map((e) => e.seq), rounds, gets };
  }

  /** Appends `n` messages to `subject` after `last`, returning their sequences. */
  async function append(subject: string, n: number, tag: string): Promise<number[]> {
    const seqs: number[] = [];
    let last = (await log.last(subject))?.seq ?? 0;
    for (let i = 0; i < n; i++) seqs.push((last = await log.append(subject, `[${i}]`, {}, `${tag}:${i}`, last)));
    return seqs;
  }

  it('reads a slot whose messages crowd one end of the range in a few rounds, where fixed parts would take one per message in the crowded part', async () => {
    const subject = journalSubject('inventory', 'crowded');
    const other = journalSubject('inventory', 'crowded-other');
    const early = await append(subject, 2, 'early');
    await append(other, 700, 'o');
    const crowd = await append(subject, 96, 'crowd');
    const mine = [...early, ...crowd];
    const from = early[0]!;
    const through = crowd.at(-1)!;
    const read = await inRounds(subject, from, through, 32);
    expect(read.seqs).toEqual(mine);
    // Fixed parts of (through - from) / 32 sequences: the 96 in about four of them, 24 gets in a row
    // each. Measured: 5 rounds (8 with 16 chains), 132 gets.
    expect(read.rounds).toBeLessThanOrEqual(7);
    // Each message once, and each chain's end and each half taken at most once more.
    expect(read.gets).toBeLessThanOrEqual(mine.length + 3 * 32);
    // With one chain, one round a message (and one to find the end).
    expect((await inRounds(subject, from, through, 1)).rounds).toBe(mine.length);
  });

  it('skips an empty stretch in the rounds it takes to find its end, not one get for each part in it', async () => {
    const subject = journalSubject('inventory', 'late');
    await append(journalSubject('inventory', 'late-other'), 2_000, 'o');
    const mine = await append(subject, 40, 'late');
    // From sequence 1, as a rebuild of a slot with no checkpoint reads.
    const read = await inRounds(subject, 1, mine.at(-1)!, 32);
    expect(read.seqs).toEqual(mine);
    // Measured: 3 rounds, 71 gets.
    expect(read.rounds).toBeLessThanOrEqual(5);
    expect(read.gets).toBeLessThanOrEqual(mine.length + 2 * 32);
  });

  it('reads exactly the messages in any range of a slot spread among others, whatever the chains', async () => {
    const subject = journalSubject('inventory', 'any');
    const other = journalSubject('inventory', 'any-other');
    // Irregular runs of another slot's messages between this one's (a fixed pseudo-random layout).
    let x = 7;
    const rand = (n: number): number => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    const mine: number[] = [];
    for (let i = 0; i < 60; i++) {
      await append(other, rand(4) === 0 ? rand(40) : rand(3), `a${i}`);
      mine.push(...(await append(subject, 1 + rand(3), `m${i}`)));
    }
    const lo = mine[0]! - 5;
    const hi = mine.at(-1)! + 5;
    for (let round = 0; round < 40; round++) {
      const from = lo + rand(hi - lo);
      const through = from + rand(hi - from + 1);
      const chains = 1 + rand(40);
      const read = await inRounds(subject, from, through, chains);
      expect(read.seqs, `${from}..${through} by ${chains}`).toEqual(mine.filter((s) => s >= from && s <= through));
    }
    // And through the log itself (its direct gets, 'none' asked again of the leader).
    const got: number[] = [];
    await log.read(subject, lo, hi, (e) => got.push(e.seq));
    expect(got).toEqual(mine);
  });
});
