/**
 * A service process's runtime: its store, its actor hosts, the outbox relay and the timer
 * scheduler, and its subscriptions. `start()` resumes whatever was in flight (unsent outbox rows,
 * due timers); `stop()` stops taking work, lets handlers finish, flushes the outbox for a grace
 * period and closes the store.
 */
import type { AnyStateMachine } from 'xstate';
import { metaToHeaders, type MessageMeta } from '../contracts/headers.ts';
import { pingSubject, type Service } from '../contracts/subjects.ts';
import { ActorHost, type ActorDefinition } from './actor-host.ts';
import { systemClock, type Clock } from './clock.ts';
import { ServiceClient } from './client.ts';
import { newId, traceparent } from './ids.ts';
import { OutboxRelay, type RelayOptions } from './relay.ts';
import { TimerScheduler } from './scheduler.ts';
import type { Store } from './store.ts';
import type { Closer, ConsumeOptions, EventHandler, Reply, Responder, Transport } from './transport/transport.ts';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface ServiceRuntimeOptions {
  service: Service;
  /** CloudEvents source, e.g. `urn:acme:fulfilment:inventory-service`. */
  source: string;
  store: Store;
  transport: Transport;
  clock?: Clock;
  log?: Logger;
  relay?: RelayOptions;
}

export class ServiceRuntime {
  readonly service: Service;
  readonly source: string;
  readonly store: Store;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly hosts = new Map<string, ActorHost>();
  readonly relay: OutboxRelay;
  readonly scheduler: TimerScheduler;
  readonly client: ServiceClient;
  private readonly closers: Closer[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(opts: ServiceRuntimeOptions) {
    this.service = opts.service;
    this.source = opts.source;
    this.store = opts.store;
    this.transport = opts.transport;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    const logErr = (msg: string, err?: unknown) => this.log.error({ err, service: this.service }, msg);
    this.relay = new OutboxRelay(this.store, this.transport, this.hosts, this.clock, { log: logErr, ...opts.relay });
    this.scheduler = new TimerScheduler(this.store, this.hosts, this.clock, logErr);
    this.client = new ServiceClient(this.transport, this.source, this.clock);
  }

  host<M extends AnyStateMachine>(def: ActorDefinition<M>): ActorHost<M> {
    const host = new ActorHost(def, {
      store: this.store,
      clock: this.clock,
      onEffects: () => {
        this.relay.kick();
        this.scheduler.arm();
      },
    });
    this.hosts.set(def.kind, host as unknown as ActorHost);
    return host;
  }

  /** Answers requests on `subject` in this service's queue group. */
  async respond(subject: string, responder: Responder): Promise<void> {
    const tracked: Responder = (msg) => this.track(Promise.resolve(responder(msg)));
    this.closers.push(await this.transport.respond(subject, tracked, { queue: this.service }));
  }

  async consume(opts: ConsumeOptions, handler: EventHandler): Promise<void> {
    this.closers.push(await this.transport.consume(opts, (d) => this.track(handler(d))));
  }

  /** A reply carrying a typed message, with headers derived from the request it answers. */
  reply(type: string, payload: unknown, cause?: MessageMeta): Reply {
    return {
      headers: metaToHeaders({
        id: newId(),
        type,
        source: this.source,
        time: new Date(this.clock.now()).toISOString(),
        correlationId: cause?.correlationId ?? cause?.id ?? newId(),
        causationId: cause?.id,
        traceparent: traceparent(cause?.traceparent),
      }),
      data: JSON.stringify(payload),
    };
  }

  /** Resumes what was in flight, and answers readiness pings. */
  async start(): Promise<void> {
    await this.respond(pingSubject(this.service), () => ({ data: JSON.stringify({ service: this.service, ok: true }) }));
    this.relay.kick();
    this.scheduler.arm();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  /** Graceful stop: no new work, finish handlers, give the outbox `graceMs` to drain, close. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.allSettled(this.closers.map((c) => c.close()));
    await Promise.allSettled([...this.inFlight]);
    const deadline = Date.now() + graceMs;
    while (this.relay.backlog() > 0 && Date.now() < deadline) {
      this.relay.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.relay.stop();
    this.scheduler.stop();
    await this.relay.idle();
    await this.store.close();
  }

  /** Abrupt stop, as a crash: nothing is flushed. */
  kill(): void {
    this.relay.stop();
    this.scheduler.stop();
    this.store.kill();
    void Promise.allSettled(this.closers.map((c) => c.close()));
  }
}
