/**
 * The bench's scale-out flags: `--instances K` runs K orchestrators and K gateways over NATS, and
 * `--partitions P`, not built yet, is refused with what is missing rather than silently ignored.
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

  it('refuses --partitions, naming the piece that is not built', () => {
    expect(() => parseArgs(['--mode', 'nats', '--partitions', '4'])).toThrow(/--partitions is not built.*KV lease per partition/);
  });
});
