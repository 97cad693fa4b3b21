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

/** Creates the durable, or updates it to these settings: the latest consume() wins. */
export async function upsertDurable(
  jsm: JetStreamManager,
  opts: ConsumeOptions,
  maxAckPending: number,
): Promise<void> {
  const filter = singleFilter(opts.durable, opts.filterSubjects);
  const cfg: Partial<ConsumerConfig> = {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(opts.ackWaitMs),
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: maxAckPending,
    ...(filter !== undefined ? { filter_subject: filter } : {}),
  };
  try {
    // Server 2.9 treats a create with a changed config as an update; newer servers refuse.
    await jsm.consumers.add(opts.stream, cfg);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === CONSUMER_ALREADY_EXISTS)) throw err;
    await jsm.consumers.update(opts.stream, opts.durable, cfg);
  }
}

/** Creates the stream (file storage, 2-minute duplicate window) unless it exists with the same subjects. */
export async function ensureNatsStream(
  jsm: JetStreamManager,
  name: string,
  subjects: readonly string[],
): Promise<void> {
  const check = (have: readonly string[]): void => {
    if ([...have].sort().join(' ') !== [...subjects].sort().join(' ')) {
      throw new Error(
        `stream ${name} exists with subjects [${have.join(', ')}], expected [${subjects.join(', ')}]`,
      );
    }
  };
  try {
    check((await jsm.streams.info(name)).config.subjects ?? []);
    return;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [...subjects],
      storage: StorageType.File,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
  } catch (err) {
    // Another service created it between our lookup and our add: fine if it is the same stream.
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
    check((await jsm.streams.info(name)).config.subjects ?? []);
  }
}
