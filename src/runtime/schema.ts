/**
 * The tables every service store has, next to its own. Since version 3: `journal`, append-only, one
 * record per handled message (journal-record.ts), which is the commit, the outbox and the inbox;
 * `actors`, the checkpoint of each actor's latest snapshot with its armed timers and pending
 * requests (journal.ts); `meta`, which holds the checkpoint's journal position and the relay's
 * watermark. Versions 1 and 2 had per-message rows in actors, journal, inbox, outbox and timers;
 * version 3 converts them. Service migrations number from 100.
 */
import type { Migration } from './store.ts';

export const runtimeMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'actor host tables',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

      CREATE TABLE actors (
        kind            TEXT NOT NULL,
        id              TEXT NOT NULL,
        machine_version TEXT NOT NULL,
        status          TEXT NOT NULL,          -- xstate snapshot status: active | done | error
        state           TEXT NOT NULL,          -- JSON of the state value, for queries and the explorer
        snapshot        TEXT NOT NULL,          -- machine.getPersistedSnapshot()
        seq             INTEGER NOT NULL,       -- events applied
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (kind, id)
      );
      CREATE INDEX actors_active ON actors (kind, status, updated_at);

      CREATE TABLE journal (
        kind        TEXT NOT NULL,
        id          TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        event       TEXT NOT NULL,
        from_state  TEXT,
        to_state    TEXT NOT NULL,
        actions     TEXT NOT NULL,
        message_id  TEXT,
        causation_id TEXT,
        at          INTEGER NOT NULL,
        PRIMARY KEY (kind, id, seq)
      );

      CREATE TABLE inbox (
        key           TEXT PRIMARY KEY,        -- idempotency key (or message id) of a handled message
        reply_headers TEXT,
        reply         TEXT,
        at            INTEGER NOT NULL
      );

      CREATE TABLE outbox (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id      TEXT NOT NULL UNIQUE,
        mode            TEXT NOT NULL,          -- publish | request | kv
        subject         TEXT NOT NULL,          -- subject, or bucket/key for kv
        headers         TEXT NOT NULL,
        data            TEXT NOT NULL,
        actor_kind      TEXT,                   -- the actor a request's reply goes back to
        actor_id        TEXT,
        slot            TEXT,                   -- names an outstanding request, so the actor can cancel it
        timeout_ms      INTEGER,
        status          TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | cancelled
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        sent_at         INTEGER
      );
      CREATE INDEX outbox_pending ON outbox (status, next_attempt_at) WHERE status = 'pending';
      CREATE INDEX outbox_slot ON outbox (actor_kind, actor_id, slot) WHERE status = 'pending';

      CREATE TABLE timers (
        kind    TEXT NOT NULL,
        id      TEXT NOT NULL,
        name    TEXT NOT NULL,
        due_at  INTEGER NOT NULL,
        event   TEXT NOT NULL,
        armed_at_seq INTEGER NOT NULL,
        PRIMARY KEY (kind, id, name)
      );
      CREATE INDEX timers_due ON timers (due_at);
    `,
  },
  {
    // Measured (embedded, C=64): 156 -> 127 write syscalls and 339 -> 278 KiB written per checkout,
    // 4.1 -> 3.8 CPU s per 1,000. Each outbox row put an entry at a random place in the unique
    // index on message_id, and publications and KV writes (which have no slot) also went into
    // outbox_slot at a random place, and out again when sent: a dirty page each, per row.
    // Nothing needs the uniqueness: every row is written by the handling of one inbound message,
    // which the inbox lets run once, and its id is derived from the actor's event sequence (or is the
    // event id the handler was given); a re-sent message is dropped by JetStream's duplicate window
    // and by the consumers' inboxes, which are what de-duplicate a crash's re-send anyway.
    version: 2,
    name: 'outbox without a message-id index; slot index for requests only',
    sql: `
      CREATE TABLE outbox_v2 (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id      TEXT NOT NULL,
        mode            TEXT NOT NULL,
        subject         TEXT NOT NULL,
        headers         TEXT NOT NULL,
        data            TEXT NOT NULL,
        actor_kind      TEXT,
        actor_id        TEXT,
        slot            TEXT,
        timeout_ms      INTEGER,
        status          TEXT NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        sent_at         INTEGER
      );
      INSERT INTO outbox_v2 SELECT seq, message_id, mode, subject, headers, data, actor_kind, actor_id, slot,
        timeout_ms, status, attempts, next_attempt_at, last_error, created_at, sent_at FROM outbox;
      -- Rows are numbered in commit order (the relay's cursor): keep numbering after the highest ever used.
      DELETE FROM sqlite_sequence WHERE name = 'outbox_v2';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_v2', seq FROM sqlite_sequence WHERE name = 'outbox';
      DROP TABLE outbox;
      ALTER TABLE outbox_v2 RENAME TO outbox;
      CREATE INDEX outbox_pending ON outbox (status, next_attempt_at) WHERE status = 'pending';
      CREATE INDEX outbox_slot ON outbox (actor_kind, actor_id, slot) WHERE status = 'pending' AND slot IS NOT NULL;
    `,
  },
  {
    // The journal is the commit (docs/architecture.md): one append per handled message instead of a
    // snapshot update, a journal row at a random key, an inbox row, outbox rows and timer rows.
    // Converts a store of version 2: the old journal becomes history records (pos in (at, kind, id,
    // seq) order, each actor's records chained by prev); armed timers and pending requests move into
    // their actor's checkpoint row; outbox rows still to publish become one record each after the
    // relay's watermark, so the relay sends them; inbox keys of the last two minutes become records
    // that rebuild the inbox window.
    version: 3,
    name: 'journal is the commit',
    sql: `
      CREATE TABLE journal_v3 (
        pos       INTEGER PRIMARY KEY,   -- append order: the commit order
        kind      TEXT NOT NULL,
        id        TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        prev      INTEGER,               -- the same actor's previous record
        at        INTEGER NOT NULL,
        inbox_key TEXT,
        record    TEXT NOT NULL          -- JSON of JournalRecord
      );
      INSERT INTO journal_v3 (pos, kind, id, seq, prev, at, inbox_key, record)
        SELECT n, kind, id, seq, lag(n) OVER (PARTITION BY kind, id ORDER BY seq), at, NULL,
          json_object('kind', kind, 'id', id, 'seq', seq, 'at', at, 'event', json(event),
            'from', json(from_state), 'to', json(to_state), 'actions', json(actions),
            'messageId', message_id, 'causationId', causation_id)
        FROM (SELECT row_number() OVER (ORDER BY at, kind, id, seq) AS n, * FROM journal);
      DROP TABLE journal;
      ALTER TABLE journal_v3 RENAME TO journal;

      ALTER TABLE actors ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE actors ADD COLUMN pending TEXT;   -- JSON {timers, requests}, or NULL when none
      CREATE INDEX journal_actor_tmp ON journal (kind, id, pos);
      UPDATE actors SET pos = coalesce((SELECT max(j.pos) FROM journal j WHERE j.kind = actors.kind AND j.id = actors.id), 0);
      DROP INDEX journal_actor_tmp;
      CREATE INDEX actors_pending ON actors (kind) WHERE pending IS NOT NULL;

      UPDATE actors SET pending = (
        SELECT json_object(
          'timers', (SELECT json_group_object(t.name, json_object('dueAt', t.due_at, 'event', json(t.event), 'seq', t.armed_at_seq))
                       FROM timers t WHERE t.kind = actors.kind AND t.id = actors.id),
          'requests', (SELECT json_group_object(o.slot, json_object('at', o.created_at, 'effect', json_object(
                          'messageId', o.message_id, 'mode', 'request', 'subject', o.subject, 'headers', json(o.headers),
                          'data', o.data, 'slot', o.slot, 'timeoutMs', o.timeout_ms)))
                       FROM outbox o WHERE o.actor_kind = actors.kind AND o.actor_id = actors.id AND o.mode = 'request'
                         AND o.status = 'pending' AND o.slot IS NOT NULL)))
      WHERE EXISTS (SELECT 1 FROM timers t WHERE t.kind = actors.kind AND t.id = actors.id)
         OR EXISTS (SELECT 1 FROM outbox o WHERE o.actor_kind = actors.kind AND o.actor_id = actors.id AND o.mode = 'request'
                      AND o.status = 'pending' AND o.slot IS NOT NULL);
      UPDATE actors SET pending = json_remove(pending, '$.timers') WHERE json_extract(pending, '$.timers') = '{}';
      UPDATE actors SET pending = json_remove(pending, '$.requests') WHERE json_extract(pending, '$.requests') = '{}';

      INSERT INTO meta (key, value) VALUES ('relay_watermark', (SELECT coalesce(max(pos), 0) FROM journal))
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
      INSERT INTO journal (kind, id, seq, prev, at, inbox_key, record)
        SELECT coalesce(actor_kind, 'outbox'), coalesce(actor_id, message_id), 0, NULL, created_at, NULL,
          json_object('kind', coalesce(actor_kind, 'outbox'), 'id', coalesce(actor_id, message_id), 'seq', 0, 'at', created_at,
            'effects', json_array(json_object('messageId', message_id, 'mode', mode, 'subject', subject,
              'headers', json(headers), 'data', data)))
        FROM outbox WHERE status = 'pending' AND mode != 'request' ORDER BY seq;
      INSERT INTO journal (kind, id, seq, prev, at, inbox_key, record)
        SELECT 'inbox', key, 0, NULL, at, key,
          json_object('kind', 'inbox', 'id', key, 'seq', 0, 'at', at,
            'inbox', json_object('key', key, 'reply', json_object('data', coalesce(reply, '{}'), 'headers', json(coalesce(reply_headers, '{}')))))
        FROM inbox WHERE at >= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 120000 ORDER BY at;
      INSERT INTO meta (key, value) VALUES ('journal_checkpoint', (SELECT coalesce(max(pos), 0) FROM journal))
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;

      DROP TABLE inbox;
      DROP TABLE outbox;
      DROP TABLE timers;
    `,
  },
  {
    // Timers beyond the horizon (journal.ts, TIMER_HORIZON_MS) stay only in their actor's row:
    // `timer_due` is the earliest of them, set while the actor is parked (every timer beyond the
    // horizon, no pending request). An old row with timers and no request is parked by its earliest
    // timer; opening the store takes it into memory when that is within the horizon.
    version: 4,
    name: 'timers beyond the horizon',
    sql: `
      ALTER TABLE actors ADD COLUMN timer_due INTEGER;
      UPDATE actors SET timer_due = (SELECT min(json_extract(t.value, '$.dueAt')) FROM json_each(actors.pending, '$.timers') t)
        WHERE pending IS NOT NULL AND json_extract(pending, '$.requests') IS NULL AND json_extract(pending, '$.timers') IS NOT NULL;
      CREATE INDEX actors_timer_due ON actors (timer_due) WHERE timer_due IS NOT NULL;
    `,
  },
];
