/**
 * Prometheus metrics (prom-client), one registry per process. The hot path only increments
 * counters and observes histograms through label children bound once; everything that needs a
 * query (sagas needing attention, the relay's backlog and lag) is computed when scraped.
 *
 *   checkouts_started_total, checkouts_confirmed_total, checkouts_cancelled_total{reason,detail}
 *   saga_step_duration_seconds{kind,step,outcome}   a request from its outbox row to its reply
 *   sagas_needing_attention{instance}               scraped from the orchestrator's store
 *   outbox_backlog{service}, outbox_lag_seconds{service}
 *   store_commits_total{service}, store_commit_batch_size{service}, store_fsync_seconds{service}
 *   nats_reconnects_total{connection}
 *   client_retries_total{type,reason}               a call outside an actor asked again (call-retry.ts)
 *   gateway_status_watches, gateway_status_streams   the SSE streams and the one watch they share
 *   http_request_duration_seconds{method,route,status_code}  (rate and errors are its counts)
 *   journal_slot_serving{slot}                       1 while this process serves the slot (leased-slot.ts)
 *   journal_slot_open_failures_total{slot,reason}    openings of a slot whose lease this process took that failed
 * plus prom-client's process metrics (CPU, memory, event loop lag, GC).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
/**
 * How often the event-loop lag is sampled (prom-client's default is 10 ms). Its sampler is a libuv
 * timer that wakes every process at that rate even when idle: at 10 ms it cost an idle process
 * 5.0-5.4 ms of CPU a second, at 100 ms 0.7-2.8 ms (side by side on the shared 2-core machine);
 * the distributed system's processes, idle, take about 0.1 of a core in all. A stall
 * shorter than the interval may go unseen; one of a tenth of a second or more is always seen
 * (docs/benchmarks.md, "The NATS path at C=32").
 */
const EVENT_LOOP_SAMPLE_MS = 100;
collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const checkoutsStarted = new Counter({ name: 'checkouts_started_total', help: 'Checkout sagas started.', registers: [registry] });
export const checkoutsConfirmed = new Counter({ name: 'checkouts_confirmed_total', help: 'Checkout sagas that ended confirmed.', registers: [registry] });
export const checkoutsCancelled = new Counter({
  name: 'checkouts_cancelled_total',
  help: "Checkout sagas that ended cancelled, by the catalog's reason and the precise failure.",
  labelNames: ['reason', 'detail'] as const,
  registers: [registry],
});
export const sagasEnteredAttention = new Counter({
  name: 'sagas_entered_attention_total',
  help: 'Times a saga parked in needsAttention (a compensation that keeps failing).',
  registers: [registry],
});
export const stepDuration = new Histogram({
  name: 'saga_step_duration_seconds',
  help: 'A request an actor sent, from its commit to the commit of its reply (retries included), per step.',
  labelNames: ['kind', 'step', 'outcome'] as const,
  buckets: latencyBuckets,
  registers: [registry],
});
export const httpDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP requests by route template and status: rate, errors and latency.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: latencyBuckets,
  registers: [registry],
});
export const statusWatches = new Gauge({
  name: 'gateway_status_watches',
  help: 'KV watches the gateway has open on the checkouts bucket: one, shared by all its SSE streams, while any is open.',
  registers: [registry],
});
export const statusStreams = new Gauge({
  name: 'gateway_status_streams',
  help: 'SSE streams listening for checkout status changes on the shared watch.',
  registers: [registry],
});
export const natsReconnects = new Counter({
  name: 'nats_reconnects_total',
  help: 'Reconnections of a NATS connection to the server.',
  labelNames: ['connection'] as const,
  registers: [registry],
});
/**
 * Distributed: 1 while this process serves the slot (`<service>.<slot>`), 0 once it stops. A slot
 * whose sum over the processes is 0 for long is served by nobody: alert on it.
 */
export const slotServing = new Gauge({ name: 'journal_slot_serving', help: 'Whether this process serves the journal slot (1) or not (0).', labelNames: ['slot'] as const, registers: [registry] });
/**
 * Openings of a slot that failed after this process took its lease, by why: `index` (the log's
 * server does not agree with itself about the slot's journal, LogIndexBroken: the slot stays closed
 * until it does, docs/architecture.md), `gap` (a rebuild read the journal with a record missing),
 * `fenced` (the previous owner's last append came first), `transient` (NATS without a leader or
 * responders), `other`.
 */
export const slotOpenFailures = new Counter({
  name: 'journal_slot_open_failures_total',
  help: 'Failed openings of a journal slot whose lease this process took, by reason.',
  labelNames: ['slot', 'reason'] as const,
  registers: [registry],
});

export const clientRetries = new Counter({
  name: 'client_retries_total',
  help: 'Calls outside an actor (gateway, service to service) asked again within their deadline, by message type and why (UNAVAILABLE, NO_RESPONDERS).',
  labelNames: ['type', 'reason'] as const,
  registers: [registry],
});
const commits = new Counter({ name: 'store_commits_total', help: 'Store transactions committed (one per group-commit batch).', labelNames: ['service'] as const, registers: [registry] });
const batchSize = new Histogram({
  name: 'store_commit_batch_size',
  help: 'Writes sharing one commit (group commit).',
  labelNames: ['service'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [registry],
});
const fsyncSeconds = new Histogram({
  name: 'store_fsync_seconds',
  help: 'Time to sync the WAL after a commit (synchronous=FULL).',
  labelNames: ['service'] as const,
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
  registers: [registry],
});

/** What a store reports, with its labels bound once. */
export interface StoreMetrics {
  committed(writes: number): void;
  synced(seconds: number): void;
}

export function storeMetrics(service: string): StoreMetrics {
  const c = commits.labels(service);
  const b = batchSize.labels(service);
  const f = fsyncSeconds.labels(service);
  return { committed: (n) => (c.inc(), b.observe(n)), synced: (s) => f.observe(s) };
}

/** Sources read at scrape time: a gauge per service whose value comes from a callback. */
type Sampler = () => number;
const samplers = { backlog: new Map<string, Sampler>(), lag: new Map<string, Sampler>(), attention: new Map<string, Sampler>() };

const sampledGauge = (name: string, help: string, label: string, from: Map<string, Sampler>) =>
  new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, sample] of from) {
        try {
          this.set({ [label]: key }, sample());
        } catch {
          // A store closed between registration and scrape: it simply has no sample now.
        }
      }
    },
  });
sampledGauge('outbox_backlog', 'Outbox rows committed but not yet sent (or answered).', 'service', samplers.backlog);
sampledGauge('outbox_lag_seconds', 'Age of the oldest outbox row not yet sent.', 'service', samplers.lag);
sampledGauge('sagas_needing_attention', 'Sagas parked in needsAttention now, per orchestrator instance.', 'instance', samplers.attention);

/** Registers scrape-time samplers; the returned function removes them (a stopped service). */
export function sampleAtScrape(kind: keyof typeof samplers, key: string, sample: Sampler): () => void {
  samplers[kind].set(key, sample);
  return () => void (samplers[kind].get(key) === sample && samplers[kind].delete(key));
}
