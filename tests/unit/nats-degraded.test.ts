/** Which JetStream answers mean "the cluster is degraded, try again", and the retry loop around provisioning. */
import { JetStreamApiError } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { ifJustCreated, isDegraded, retryWhileDegraded } from '../../src/runtime/transport/nats-jetstream.ts';
import { RequestTimeoutError } from '../../src/runtime/transport/errors.ts';

const apiError = (code: number, err_code: number, description: string) => new JetStreamApiError({ code, err_code, description });

describe('isDegraded', () => {
  it('is true for a leaderless or short-handed cluster and for timeouts', () => {
    expect(isDegraded(apiError(503, 10008, 'JetStream system temporarily unavailable'))).toBe(true);
    expect(isDegraded(apiError(500, 10023, 'insufficient resources'))).toBe(true);
    expect(isDegraded(apiError(400, 10005, 'no suitable peers for placement'))).toBe(true);
    expect(isDegraded(new RequestTimeoutError('$JS.API.STREAM.INFO.X', 1000))).toBe(true);
    expect(isDegraded(new Error('wrapped', { cause: apiError(503, 10008, 'unavailable') }))).toBe(true);
  });

  it('is false for a refusal that retrying cannot cure', () => {
    expect(isDegraded(apiError(400, 10074, 'replicas > 1 not supported in non-clustered mode'))).toBe(false);
    expect(isDegraded(apiError(404, 10059, 'stream not found'))).toBe(false);
    expect(isDegraded(new Error('stream SHOPPING exists with subjects [a], expected [b]'))).toBe(false);
  });
});

describe('retryWhileDegraded', () => {
  it('tries again while degraded, and rethrows anything else at once', async () => {
    let calls = 0;
    const waits: string[] = [];
    const r = await retryWhileDegraded('stream S', async () => {
      if (++calls < 3) throw apiError(503, 10008, 'unavailable');
      return 'made';
    }, 5_000, (what) => waits.push(what));
    expect([r, calls, waits]).toEqual(['made', 3, ['stream S', 'stream S']]);
    await expect(retryWhileDegraded('x', () => Promise.reject(new Error('bad config')), 5_000)).rejects.toThrow('bad config');
  });

  it('gives up with the last failure once its patience is spent', async () => {
    await expect(retryWhileDegraded('x', () => Promise.reject(apiError(503, 10008, 'unavailable')), 50)).rejects.toThrow(/unavailable/);
  });
});

describe('the lookup of a durable just created', () => {
  it('retries a "not found" (a cluster whose consumer group is still forming), and only that', async () => {
    let calls = 0;
    const lookup = async (): Promise<string> => {
      if (++calls < 3) throw apiError(404, 10014, 'consumer not found');
      return 'found';
    };
    await expect(retryWhileDegraded('consumer D', () => lookup().catch(ifJustCreated('D')), 5_000)).resolves.toBe('found');
    expect(calls).toBe(3);
    await expect(retryWhileDegraded('consumer D', () => Promise.reject(apiError(404, 10059, 'stream not found')).catch(ifJustCreated('D')), 5_000)).rejects.toThrow('stream not found');
  });

  it('gives up with a named failure if the durable never shows', async () => {
    await expect(retryWhileDegraded('consumer D', () => Promise.reject(apiError(404, 10014, 'consumer not found')).catch(ifJustCreated('D')), 50)).rejects.toThrow('durable D was created but its lookup does not find it yet');
  });
});
