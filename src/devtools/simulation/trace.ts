/**
 * A simulated run's trace: one line per message, fault, transition and check, stamped with the
 * simulated time (ms since the run started) and the loop's step. Two runs of one seed must produce
 * byte-identical traces (tests/sim/determinism.test.ts).
 */
import { SIM_EPOCH, type SimLoop } from './loop.ts';

export class Trace {
  readonly lines: string[] = [];
  constructor(private readonly loop: SimLoop) {}

  add(line: string): void {
    this.lines.push(`${String(this.loop.now - SIM_EPOCH).padStart(7)} #${this.loop.steps} ${line}`);
  }

  text(): string {
    return this.lines.join('\n');
  }
}

/** A short fingerprint of a message body (FNV-1a), so the trace shows when two bodies differ without printing them. */
export function fingerprint(data: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
