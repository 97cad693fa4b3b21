/**
 * How a journal record stores the reply a repeat of its message gets (src/runtime/journal-record.ts,
 * packReply): a participant's reply carries CloudEvents headers its record gives again and,
 * often, the very body of the event it publishes. Stored packed, the repeat must still get exactly
 * the reply the first message got, from this store and from one reopened; records of earlier
 * versions keep their whole replies and answer as before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { metaToHeaders, type MessageMeta } from '../../src/contracts/headers.ts';
import { packReply, replyOf, type JournalRecord, type OutboundEffect } from '../../src/runtime/journal-record.ts';
import { Journal } from '../../src/runtime/journal.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';
import type { Reply } from '../../src/runtime/transport/transport.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const freshPath = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'poa-reply-'));
  dirs.push(dir);
  return join(dir, 'svc.db');
};

const at = Date.parse('2026-12-07T02:28:19.360Z');
const body = JSON.stringify({ reservationId: 'r-1', orderId: 'o-1', items: [{ productId: 'p-1', quantity: 3 }], reservedAt: '2026-12-07T02:28:19.360Z' });
const published: OutboundEffect = { messageId: 'e-1', mode: 'publish', subject: 'fulfilment.evt.inventory-reserved', type: 'inventory-reserved', traceparent: '00-4dcc9df57ab04b99b063bbb52125858c-82e412b2015e4817-01', data: body };

/** A participant's record: it handled message m-1 (caused by c-0) and published the event it also replies with. */
function participantRecord(reply: Reply, over: Partial<JournalRecord> = {}): JournalRecord {
  return {
    kind: 'reservation', id: 'r-1', seq: 1, at, event: { type: 'reservation.hold' }, from: null, to: 'held', format: 2, version: '1',
    effects: [published],
    inbox: { key: 'inventory.cmd.reserve-inventory/k-1', reply },
    messageId: 'm-1', causationId: 'c-0', source: 'urn:acme:fulfilment:inventory-service', correlationId: 'corr-1',
    ...over,
  };
}

/** The reply a service builds (ServiceRuntime.reply): a fresh id and span, the rest from the message it answers. */
function serviceReply(meta: Partial<MessageMeta> = {}, data = body): Reply {
  return {
    headers: metaToHeaders({
      id: 'ca9413b7-5a30-4da3-9308-4e971dc90c4c', type: 'inventory-reserved', source: 'urn:acme:fulfilment:inventory-service',
      time: new Date(at).toISOString(), correlationId: 'corr-1', causationId: 'm-1',
      traceparent: '00-4dcc9df57ab04b99b063bbb52125858c-03902db1e1334b67-01', ...meta,
    }),
    data,
  };
}

describe('a stored reply', () => {
  it('keeps of a participant reply only its id, type and span, and names the published event for its body', () => {
    const reply = serviceReply();
    const record = participantRecord(reply);
    const packed = packReply(record, reply);
    expect(packed).toEqual({ ce: { id: 'ca9413b7-5a30-4da3-9308-4e971dc90c4c', type: 'inventory-reserved', traceparent: '00-4dcc9df57ab04b99b063bbb52125858c-03902db1e1334b67-01' }, dataOf: 0 });
    expect(JSON.stringify(packed).length).toBeLessThan(JSON.stringify(reply).length / 3);
    expect(replyOf({ ...record, inbox: { key: record.inbox!.key, reply: packed } })).toStrictEqual(reply);
  });

  it('keeps what its record does not give: another source, time, correlation or cause, and a body no effect carries', () => {
    const reply = serviceReply({ source: 'urn:acme:other', time: '2026-12-07T02:28:19.361Z', correlationId: 'corr-2', causationId: 'm-0' }, '{"other":true}');
    const record = participantRecord(reply);
    const packed = packReply(record, reply);
    expect(packed).toMatchObject({ ce: { source: 'urn:acme:other', time: '2026-12-07T02:28:19.361Z', correlationId: 'corr-2', causationId: 'm-0' }, data: '{"other":true}' });
    expect(replyOf({ ...record, inbox: { key: 'k', reply: packed } })).toStrictEqual(reply);
    // A record without effects, source or correlation (a cart command's): those stay in the reply.
    const bare = participantRecord(reply, { effects: undefined, source: undefined, correlationId: undefined });
    const packedBare = packReply(bare, reply);
    expect(replyOf({ ...bare, inbox: { key: 'k', reply: packedBare } })).toStrictEqual(reply);
  });

  it('is kept whole when its headers are not what unpacking gives again', () => {
    const withError: Reply = { headers: { ...serviceReply().headers, 'x-error-code': 'CONFLICT' }, data: '{}' };
    const noCause: Reply = serviceReply({ causationId: undefined });
    const headerless: Reply = { data: '{}' };
    const partial: Reply = { headers: { 'ce-type': 'ok' }, data: '{"r":1}' };
    for (const reply of [withError, noCause, headerless, partial]) {
      const record = participantRecord(reply);
      expect(packReply(record, reply)).toBe(reply);
      expect(replyOf(record)).toBe(reply);
    }
  });

  it('answers a repeat with the very reply the first got, packed on disk, after a reopen too; a whole reply of an older record as before', async () => {
    const path = freshPath();
    const store = new Store({ path, migrations: runtimeMigrations, synchronous: 'NORMAL' });
    const clock = { now: () => at + 1_000 }; // the inbox window is two minutes of this clock
    const journal = Journal.of(store, { clock });
    const reply = serviceReply();
    const whole = serviceReply({ id: 'older' }, '{"older":true}');
    await store.write(() => {
      journal.append(participantRecord(reply), undefined);
      // As a record of the previous version stored it: the reply whole, under `inbox.reply`.
      store.db
        .prepare('INSERT INTO journal (kind, id, seq, prev, at, inbox_key, record) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run('reservation', 'r-0', 1, null, at, 'older-key', JSON.stringify(participantRecord(whole, { id: 'r-0', inbox: { key: 'older-key', reply: whole } })));
    });
    const stored = JSON.parse(store.db.prepare('SELECT record FROM journal WHERE id = ?').pluck().get('r-1') as string) as JournalRecord;
    expect(stored.inbox?.reply).toMatchObject({ ce: { type: 'inventory-reserved' }, dataOf: 0 });
    expect(stored.inbox?.reply).not.toHaveProperty('headers');
    expect(journal.storedReply('inventory.cmd.reserve-inventory/k-1')).toStrictEqual(reply);
    await store.close();

    // The window is rebuilt from the journal at open; the records are read as stored.
    const again = new Store({ path, migrations: runtimeMigrations, synchronous: 'NORMAL' });
    const reopened = Journal.of(again, { clock });
    expect(reopened.storedReply('inventory.cmd.reserve-inventory/k-1')).toStrictEqual(reply);
    expect(reopened.storedReply('older-key')).toStrictEqual(whole);
    await again.close();
  });
});
