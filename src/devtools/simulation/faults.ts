/**
 * Which faults a simulated run injects, and how often. Every fault stays within what NATS and
 * JetStream guarantee (docs/simulation.md): a core message may be lost or late, a request may time
 * out after its effect happened, a JetStream delivery may come again (its ack was lost), but an
 * acknowledged publish is never lost and one consumer's first deliveries leave in stream order.
 */
import type { Prng } from './prng.ts';

export const FaultKind = {
  crash: 'crash',
  duplicate: 'duplicate',
  reorder: 'reorder',
  delay: 'delay',
  drop: 'drop',
  clock: 'clock',
} as const;
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];
export const allFaults: readonly FaultKind[] = Object.values(FaultKind);

export function parseFaults(spec: string): FaultKind[] {
  if (spec === 'all') return [...allFaults];
  if (spec === 'none' || spec === '') return [];
  return spec.split(',').map((s) => {
    const f = s.trim() as FaultKind;
    if (!allFaults.includes(f)) throw new Error(`unknown fault "${s}"; expected some of ${allFaults.join(',')}`);
    return f;
  });
}

/** The network's and the world's fault decisions, drawn from the run's PRNG while faults are on. */
export class FaultPlan {
  /** Off once the workload is done: the world heals and must converge. */
  active = true;
  private readonly on: ReadonlySet<FaultKind>;

  constructor(
    kinds: readonly FaultKind[],
    private readonly rng: Prng,
  ) {
    this.on = new Set(kinds);
  }

  has(kind: FaultKind): boolean {
    return this.active && this.on.has(kind);
  }

  /** One hop's latency in ms: 1 ms, plus jitter that reorders (reorder), plus now and then a long stall (delay). */
  latency(): number {
    let ms = 1;
    if (this.has('reorder')) ms += this.rng.int(0, 25);
    if (this.has('delay') && this.rng.chance(0.03)) ms += this.rng.int(200, 6_000);
    return ms;
  }

  /** A core message (request, reply, KV or publish round trip) is lost. */
  drop(): boolean {
    return this.has('drop') && this.rng.chance(0.03);
  }

  /** A JetStream delivery's ack is lost after the handler succeeded: the message comes again. */
  duplicate(): boolean {
    return this.has('duplicate') && this.rng.chance(0.05);
  }
}
