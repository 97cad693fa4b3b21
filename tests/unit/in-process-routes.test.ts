/**
 * The in-process transport remembers, per literal subject, the subscriptions matching it and the
 * stream that stores it, instead of looking through all of them at every request and publication.
 * What it remembers must follow every change: a responder or listener that comes or goes, a stream
 * added. On a real SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NoRespondersError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Message } from '../../src/runtime/transport/transport.ts';

const dirs: string[] = [];
const buses: InProcessTransport[] = [];
afterEach(async () => {
  for (const b of buses.splice(0)) await b.drain();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function bus(): InProcessTransport {
  const dir = mkdtempSync(join(tmpdir(), 'poa-routes-'));
  dirs.push(dir);
  const b = new InProcessTransport({ path: join(dir, 'bus.db') });
  buses.push(b);
  return b;
}

const ask = (b: InProcessTransport, subject: string) => b.request(subject, '{}', { timeoutMs: 2_000, headers: {} }).then((m) => m.data);

describe('in-process routes by subject', () => {
  it('reach a responder that subscribed after the subject was asked, and not one that left', async () => {
    const b = bus();
    await expect(ask(b, 'cmd.a')).rejects.toBeInstanceOf(NoRespondersError);
    const first = await b.respond('cmd.a', () => ({ data: '"first"' }));
    expect(await ask(b, 'cmd.a')).toBe('"first"');
    // A wildcard responder joins the same subject: a request goes to both.
    let wildAsked = 0;
    const wild = await b.respond('cmd.*', () => {
      wildAsked++;
      return { data: '"wild"' };
    });
    await ask(b, 'cmd.a');
    await expect.poll(() => wildAsked).toBe(1);
    await first.close();
    expect(await ask(b, 'cmd.a')).toBe('"wild"');
    await wild.close();
    await expect(ask(b, 'cmd.a')).rejects.toBeInstanceOf(NoRespondersError);
  });

  it('give a publication to a listener that came after the subject was published, and to none that left', async () => {
    const b = bus();
    await b.ensureStream('E', ['evt.>']);
    await b.publish('evt.x', '1', {}, 'm1');
    const heard: Message[] = [];
    const tap = await b.subscribeAll('evt.x', (m) => void heard.push(m));
    await b.publish('evt.x', '2', {}, 'm2');
    await expect.poll(() => heard.map((m) => m.data)).toEqual(['2']);
    await tap.close();
    await b.publish('evt.x', '3', {}, 'm3');
    await new Promise((r) => setTimeout(r, 20));
    expect(heard.map((m) => m.data)).toEqual(['2']);
  });

  it('offer replies to a listener of reply subjects only while there is one', async () => {
    const b = bus();
    await b.respond('cmd.r', () => ({ data: '"r"' }));
    const heard: Message[] = [];
    const tap = await b.subscribeAll('_INBOX.>', (m) => void heard.push(m));
    await ask(b, 'cmd.r');
    await expect.poll(() => heard.map((m) => m.data)).toEqual(['"r"']);
    await tap.close();
    await ask(b, 'cmd.r');
    await new Promise((r) => setTimeout(r, 20));
    expect(heard).toHaveLength(1);
  });

  it('store a subject in a stream added after it was published to no stream', async () => {
    const b = bus();
    await expect(b.publish('late.x', '1', {}, 'l1')).rejects.toBeInstanceOf(NoRespondersError);
    await b.ensureStream('L', ['late.>']);
    expect(await b.publish('late.x', '2', {}, 'l2')).toMatchObject({ stream: 'L', seq: 1, duplicate: false });
  });

  it('still refuse a subject that is not literal, every time', async () => {
    const b = bus();
    await b.respond('cmd.>', () => ({ data: '{}' }));
    for (let i = 0; i < 2; i++) await expect(ask(b, 'cmd.*')).rejects.toThrow(/invalid subject/);
  });
});
