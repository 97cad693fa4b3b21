/**
 * A durable consumer that must be its durable's only member (ConsumeOptions.exclusive), in the
 * in-process transport: a second consume of it is refused while it is a member, exclusive or not,
 * and so is an exclusive one that would join another member; the refused call changes nothing for
 * the member there, and once that member leaves, another may join. The sole orchestrator's starts
 * rely on it (it claims no saga: src/system.ts). On a real SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExclusiveConsumerTaken } from '../../src/runtime/transport/in-process/durable.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Closer } from '../../src/runtime/transport/transport.ts';

const open: { bus: InProcessTransport; dir: string }[] = [];
afterEach(async () => {
  for (const { bus, dir } of open.splice(0)) {
    await bus.drain();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function world() {
  const dir = mkdtempSync(join(tmpdir(), 'poa-exclusive-'));
  const bus = new InProcessTransport({ path: join(dir, 'bus.db'), locking: 'shared' });
  open.push({ bus, dir });
  await bus.ensureStream('S', ['s.evt.>']);
  /** Consumes the durable `d` (of `subject`), recording what each consumer (by name) was given. */
  const got = new Map<string, string[]>();
  const consume = (name: string, exclusive?: boolean, subject = 's.evt.x'): Promise<Closer> =>
    bus.consume({ stream: 'S', durable: 'd', filterSubjects: [subject], ackWaitMs: 5_000, ...(exclusive === undefined ? {} : { exclusive }) }, async (m) => {
      got.set(name, [...(got.get(name) ?? []), m.data]);
    });
  const publish = (id: string) => bus.publish('s.evt.x', id, {}, id);
  return { consume, publish, got };
}

describe('an exclusive durable consumer, in-process', () => {
  it('refuses a second consumer while it is a member, exclusive or not, and keeps its own settings and deliveries', async () => {
    const w = await world();
    await w.consume('sole', true);
    await expect(w.consume('other')).rejects.toBeInstanceOf(ExclusiveConsumerTaken);
    // Refused, its filter is not taken either (a consume's settings win, as a NATS consumer update's).
    await expect(w.consume('another', true, 's.evt.y')).rejects.toThrow(/must be its only one/);
    for (const id of ['1', '2', '3']) await w.publish(id);
    await expect.poll(() => w.got.get('sole')).toEqual(['1', '2', '3']);
    expect(w.got.has('other') || w.got.has('another')).toBe(false);
  });

  it('is refused when the durable already has a member', async () => {
    const w = await world();
    await w.consume('first');
    await w.consume('second', false); // a queue group, as before
    await expect(w.consume('sole', true)).rejects.toBeInstanceOf(ExclusiveConsumerTaken);
  });

  it('lets another member join once it left', async () => {
    const w = await world();
    const sole = await w.consume('sole', true);
    await sole.close();
    await w.consume('next', true);
    await w.publish('1');
    await expect.poll(() => w.got.get('next')).toEqual(['1']);
  });
});
