/** JetStream provisioning for the NATS transport: streams and durable pull consumers. */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { DUPLICATE_WINDOW_MS, singleFilter } from './consumer-policy.ts';
import type { ConsumeOptions } from './transport.ts';

// Not in nats.js's JetStreamApiCodes table.
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_ALREADY_EXISTS = 10148;

/** The settings of a consume()'s durable. */
function durableConfig(opts: ConsumeOptions, maxAckPending: number): Partial<ConsumerConfig> {
  const filter = singleFilter(opts.durable, opts.filterSubjects);
  return {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(opts.ackWaitMs),
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: maxAckPending,
    ...(filter !== undefined ? { filter_subject: filter } : {}),
  };
}

/**
 * Whether an existing durable already has a consume()'s settings, so that it need not be created
 * or updated: a process opening a slot whose durables an earlier owner made (a takeover) then
 * looks each up once, where a create (through the meta leader) and a lookup took two requests.
 */
export function durableIsAsAsked(have: ConsumerConfig, opts: ConsumeOptions, maxAckPending: number): boolean {
  const want = durableConfig(opts, maxAckPending);
  return (
    have.durable_name === want.durable_name &&
    have.ack_policy === want.ack_policy &&
    have.ack_wait === want.ack_wait &&
    have.deliver_policy === want.deliver_policy &&
    have.max_ack_pending === want.max_ack_pending &&
    (have.filter_subject ?? '') === (want.filter_subject ?? '') &&
    (have.filter_subjects ?? []).length === 0
  );
}

/** Creates the durable, or updates it to these settings: the latest consume() wins. */
export async function upsertDurable(
  jsm: JetStreamManager,
  opts: ConsumeOptions,
  maxAckPending: number,
): Promise<void> {
  const cfg = durableConfig(opts, maxAckPending);
  try {
    // Server 2.9 treats a create with a changed config as an update; newer servers refuse.
    await jsm.consumers.add(opts.stream, cfg);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === CONSUMER_ALREADY_EXISTS)) throw err;
    await jsm.consumers.update(opts.stream, opts.durable, cfg);
  }
}

/** A lookup of a durable that does not exist yet answers undefined; any other failure is thrown. */
export function ifConsumerMissing(err: unknown): undefined {
  if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
  throw err;
}

/**
 * A durable this process has just created or updated that a lookup answers as missing: on a
 * cluster, the consumer's own group forms after the meta leader confirmed the create, and a lookup
 * answered meanwhile says "not found". That is a cluster catching up, retried as degraded, not a
 * refusal: thrown as one, it ended a second orchestrator at its start in a cluster-test run
 * (docs/benchmarks.md, "Failover under load 15-24, measured").
 */
export class DurableNotVisibleYet extends Error {
  override readonly name = 'DurableNotVisibleYet';
  constructor(durable: string, cause: unknown) {
    super(`durable ${durable} was created but its lookup does not find it yet`, { cause });
  }
}

/** For the lookup of a durable just created: a "not found" is DurableNotVisibleYet (degraded); any other failure is thrown as it is. */
export function ifJustCreated(durable: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) throw new DurableNotVisibleYet(durable, err);
    throw err;
  };
}

/**
 * Creates the stream (file storage, 2-minute duplicate window, `replicas` copies: 3 on a 3-node
 * cluster, messages kept `maxAgeMs` if given, else without an age limit) unless it exists with the
 * same subjects. An existing stream keeps its replica count and its age limit: the services may
 * create streams, not edit them (nats.conf), so a stream made before the retention was stated keeps
 * everything until an operator sets it (`nats stream edit <name> --max-age 24h`). With `allowDirect`,
 * a stream it creates answers direct gets (any replica answers; nats-log.ts). Resolves with whether
 * the stream, as it is, allows them: one made earlier without keeps being read through its leader
 * until an operator sets it (`nats stream edit <name> --allow-direct`).
 */
export async function ensureNatsStream(
  jsm: JetStreamManager,
  name: string,
  subjects: readonly string[],
  replicas = 1,
  maxAgeMs?: number,
  allowDirect = false,
): Promise<{ allowDirect: boolean }> {
  const check = (have: readonly string[]): void => {
    if ([...have].sort().join(' ') !== [...subjects].sort().join(' ')) {
      throw new Error(
        `stream ${name} exists with subjects [${have.join(', ')}], expected [${subjects.join(', ')}]`,
      );
    }
  };
  try {
    const { config } = await jsm.streams.info(name);
    check(config.subjects ?? []);
    return { allowDirect: config.allow_direct === true };
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [...subjects],
      storage: StorageType.File,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      max_age: maxAgeMs === undefined ? 0 : nanos(maxAgeMs),
      num_replicas: replicas,
      ...(allowDirect ? { allow_direct: true } : {}),
    });
    return { allowDirect };
  } catch (err) {
    // Another service created it between our lookup and our add: fine if it is the same stream.
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
    const { config } = await jsm.streams.info(name);
    check(config.subjects ?? []);
    return { allowDirect: config.allow_direct === true };
  }
}

/**
 * JetStream answers that mean "not now" on a cluster that is electing a leader or has lost a node:
 * the system temporarily unavailable (10008), no suitable peers (10005), insufficient resources
 * (10023), not the leader (10009), a stream offline (10118); and a request that timed out or found
 * nobody to answer it (503) while the meta leader moves.
 */
const DEGRADED_CODES: ReadonlySet<number> = new Set([10005, 10008, 10009, 10023, 10118]);

export function isDegraded(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return DEGRADED_CODES.has(err.code) || err.status === 503;
  if (!(err instanceof Error)) return false;
  if (['TimeoutError', 'NoRespondersError', 'JetStreamNotEnabled', 'RequestTimeoutError', 'DurableNotVisibleYet'].includes(err.name)) return true;
  return err.cause !== undefined && err.cause !== err && isDegraded(err.cause);
}

/**
 * Runs a provisioning call (a stream, a consumer, a bucket) again while the cluster answers that it
 * is degraded, with backoff (0.1 s doubling to 2 s) for up to `forMs`; any other failure, or the
 * last one, is thrown. A service starting while one node of three is down or a leader is being
 * elected waits for the cluster instead of exiting.
 */
export async function retryWhileDegraded<T>(what: string, fn: () => Promise<T>, forMs = 60_000, onWait?: (what: string, err: unknown) => void): Promise<T> {
  const end = Date.now() + forMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isDegraded(err) || Date.now() >= end) throw err;
      onWait?.(what, err);
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
    }
  }
}
