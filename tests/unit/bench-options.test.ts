/**
 * The bench's scale-out flags: `--instances K` runs K orchestrators and K gateways over NATS, and
 * with `--partitions P` K processes of each partitioned participant sharing P partitions.
 */
import { describe, expect, it } from 'vitest';
import { defaultOptions, parseArgs } from '../../bench/options.ts';

describe('bench options', () => {
  it('runs one instance of everything unless told otherwise', () => {
    expect(defaultOptions.instances).toBe(1);
    expect(parseArgs(['--mode', 'nats']).instances).toBe(1);
  });

  it('takes --instances K over NATS, one process per service', () => {
    expect(parseArgs(['--mode', 'nats', '--entry', 'http', '--instances', '2'])).toMatchObject({ mode: 'nats', entry: 'http', instances: 2 });
  });

  it('refuses --instances where there is nothing to scale out', () => {
    expect(() => parseArgs(['--instances', '2'])).toThrow(/--instances needs --mode nats/);
    expect(() => parseArgs(['--mode', 'nats', '--procs', 'single', '--instances', '2'])).toThrow(/--procs per-service/);
    expect(() => parseArgs(['--mode', 'nats', '--instances', '0'])).toThrow(/--instances must be a number from 1 to 8/);
  });

  it('takes --partitions P over NATS, one process per service, and refuses it elsewhere', () => {
    expect(defaultOptions.partitions).toBe(1);
    expect(parseArgs(['--mode', 'nats', '--instances', '2', '--partitions', '4'])).toMatchObject({ instances: 2, partitions: 4 });
    expect(() => parseArgs(['--partitions', '2'])).toThrow(/--partitions needs --mode nats/);
    expect(() => parseArgs(['--mode', 'nats', '--partitions', '9'])).toThrow(/--partitions must be a number from 1 to 8/);
  });

  it('fills 5,000 measured carts ahead of their checkouts unless told otherwise (--open-carts)', () => {
    expect(defaultOptions.openCarts).toBe(5_000);
    expect(parseArgs(['-n', '100000', '--open-carts', '2000'])).toMatchObject({ n: 100_000, openCarts: 2_000 });
    expect(() => parseArgs(['--open-carts', '0'])).toThrow(/--open-carts must be a number from 1/);
  });

  it('traces the memory of the embedded process only when asked (--memory-trace), with heap snapshots at given counts', () => {
    expect(defaultOptions.memoryTrace).toBeUndefined();
    expect(parseArgs(['--memory-trace', '/tmp/m.jsonl', '--heap-snapshots', '100000,250000'])).toMatchObject({ memoryTrace: '/tmp/m.jsonl', heapSnapshots: [100_000, 250_000] });
    expect(() => parseArgs(['--mode', 'nats', '--memory-trace', '/tmp/m.jsonl'])).toThrow(/--memory-trace needs --mode embedded/);
    expect(() => parseArgs(['--heap-snapshots', '10k'])).toThrow(/--heap-snapshots takes checkout counts/);
  });
});
