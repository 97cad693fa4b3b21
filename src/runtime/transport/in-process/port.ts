/**
 * The transport across a MessagePort, so that embedded services can run in worker threads and use
 * the machine's second core. The main thread owns the in-process transport (its event log, KV and
 * routing in bus.db) and serves it on one port per worker (`servePort`); in the worker, a
 * `PortTransport` is an ordinary `Transport` whose every call crosses the port. Semantics are the
 * in-process transport's, because that is what answers: the conformance suite runs over this too.
 *
 *   worker: services ─▶ PortTransport ══ MessagePort ══▶ servePort ─▶ InProcessTransport (main)
 *
 * Calls go up as `{t:'call', id, call}` and come back as `{t:'result', id}`. What the main thread
 * starts (a request for one of the worker's responders, a delivery for one of its consumers) comes
 * down as `{t:'serve'|'deliver', id, handle}` and is answered with `{t:'answer', id}`; KV watch
 * entries and taps come down as `{t:'event', handle}`. Handles are chosen by the worker, before the
 * registration is sent, so a delivery can never arrive for a handler the worker does not know yet.
 * Errors cross as plain objects and are revived as the transport's own error classes, so
 * `isTransient()` and a consumer's retry delay mean the same on both sides.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Headers } from '../../../contracts/headers.ts';
import { NoRespondersError, RemoteError, RequestTimeoutError, TransportClosedError } from '../errors.ts';
import { InFlight } from '../in-flight.ts';
import { answer } from '../reply.ts';
import type {
  Closer,
  ConsumeOptions,
  Delivery,
  EventHandler,
  GetOptions,
  Kv,
  KvEntry,
  Message,
  PublishAck,
  Reply,
  RequestOptions,
  Responder,
  RespondOptions,
  Transport,
  WatchOptions,
} from '../transport.ts';

type Call =
  | { op: 'request'; subject: string; data: string; opts: RequestOptions }
  | { op: 'respond'; handle: number; subject: string; queue: string | undefined }
  | { op: 'subscribeAll'; handle: number; subject: string }
  | { op: 'publish'; subject: string; data: string; headers: Headers; msgId: string }
  | { op: 'consume'; handle: number; opts: ConsumeOptions }
  | { op: 'ensureStream'; name: string; subjects: readonly string[] }
  | { op: 'kv.get' | 'kv.create' | 'kv.put'; bucket: string; key: string; value?: string; opts?: GetOptions }
  | { op: 'kv.update'; bucket: string; key: string; value: string; revision: number }
  | { op: 'kv.watch'; handle: number; bucket: string; filter: string; opts: WatchOptions | undefined }
  | { op: 'close'; handle: number };

interface WireError {
  name: string;
  message: string;
  code?: string;
  subject?: string;
  timeoutMs?: number;
  retryAfterMs?: number;
}

type Up =
  | { t: 'call'; id: number; call: Call }
  | { t: 'answer'; id: number; ok: true; value: unknown }
  | { t: 'answer'; id: number; ok: false; error: WireError };

type Down =
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: WireError }
  | { t: 'serve'; id: number; handle: number; msg: Message }
  | { t: 'deliver'; id: number; handle: number; delivery: Delivery }
  | { t: 'event'; handle: number; value: unknown };

function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & Partial<WireError>;
  return { name: e.name, message: e.message, code: e.code, subject: e.subject, timeoutMs: e.timeoutMs, retryAfterMs: e.retryAfterMs };
}

function revive(w: WireError): Error {
  switch (w.name) {
    case 'RequestTimeoutError':
      return new RequestTimeoutError(w.subject ?? '?', w.timeoutMs ?? 0);
    case 'NoRespondersError':
      return new NoRespondersError(w.subject ?? '?');
    case 'RemoteError':
      return new RemoteError(w.code ?? 'INTERNAL', w.message, w.subject);
    case 'TransportClosedError':
      return new TransportClosedError();
    default: {
      const e = new Error(w.message) as Error & { retryAfterMs?: number };
      e.name = w.name;
      if (w.retryAfterMs !== undefined) e.retryAfterMs = w.retryAfterMs;
      return e;
    }
  }
}

/** Serves `transport` to the worker at the other end of `port`. Resolves when the port closes. */
export function servePort(port: MessagePort, transport: Transport, onError: (err: unknown, context: string) => void): { closed: Promise<void> } {
  const closers = new Map<number, Closer>();
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const post = (m: Down) => port.postMessage(m);
  /** Asks the worker to run one of its handlers; resolves with its answer. */
  const ask = (m: { t: 'serve'; handle: number; msg: Message } | { t: 'deliver'; handle: number; delivery: Delivery }) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      post({ ...m, id });
    });

  const kvs = new Map<string, Promise<Kv>>();
  const kv = (bucket: string) => {
    let k = kvs.get(bucket);
    if (!k) kvs.set(bucket, (k = transport.kv(bucket)));
    return k;
  };

  const run = async (call: Call): Promise<unknown> => {
    switch (call.op) {
      case 'request':
        return transport.request(call.subject, call.data, call.opts);
      case 'respond':
        closers.set(call.handle, await transport.respond(call.subject, (msg) => ask({ t: 'serve', handle: call.handle, msg }) as Promise<Reply>, { queue: call.queue }));
        return undefined;
      case 'subscribeAll': {
        if (!transport.subscribeAll) throw new Error('this transport has no subscribeAll');
        closers.set(call.handle, await transport.subscribeAll(call.subject, (m) => post({ t: 'event', handle: call.handle, value: m })));
        return undefined;
      }
      case 'publish':
        return transport.publish(call.subject, call.data, call.headers, call.msgId);
      case 'consume':
        closers.set(call.handle, await transport.consume(call.opts, async (d) => void (await ask({ t: 'deliver', handle: call.handle, delivery: d }))));
        return undefined;
      case 'ensureStream':
        return transport.ensureStream(call.name, call.subjects);
      case 'kv.get':
        return (await kv(call.bucket)).get(call.key, call.opts);
      case 'kv.put':
        return (await kv(call.bucket)).put(call.key, call.value ?? '');
      case 'kv.create':
        return (await kv(call.bucket)).create(call.key, call.value ?? '');
      case 'kv.update':
        return (await kv(call.bucket)).update(call.key, call.value, call.revision);
      case 'kv.watch':
        closers.set(call.handle, await (await kv(call.bucket)).watch(call.filter, (e) => post({ t: 'event', handle: call.handle, value: e }), call.opts));
        return undefined;
      case 'close': {
        const c = closers.get(call.handle);
        closers.delete(call.handle);
        await c?.close();
        return undefined;
      }
      default: {
        const _exhaustive: never = call;
        throw new Error(`unknown call ${JSON.stringify(_exhaustive)}`);
      }
    }
  };

  port.on('message', (m: Up) => {
    if (m.t === 'answer') {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.ok) w?.resolve(m.value);
      else w?.reject(revive(m.error));
      return;
    }
    run(m.call).then(
      (value) => post({ t: 'result', id: m.id, ok: true, value }),
      (err: unknown) => post({ t: 'result', id: m.id, ok: false, error: toWire(err) }),
    );
  });

  const closed = new Promise<void>((resolve) => {
    port.once('close', () => {
      // The worker is gone: what it registered goes with it; what it was asked is abandoned
      // (a delivery it never answered is redelivered after its ack wait, as after a crash).
      for (const w of waiting.values()) w.reject(new TransportClosedError());
      waiting.clear();
      const all = [...closers.values()];
      closers.clear();
      void Promise.allSettled(all.map((c) => c.close())).then(() => resolve());
    });
  });
  port.on('messageerror', (err) => onError(err, 'port message could not be read'));
  return { closed };
}

/** A `Transport` whose every call is served by `servePort` at the other end of the port. */
export class PortTransport implements Transport {
  private nextId = 0;
  private nextHandle = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly responders = new Map<number, Responder>();
  private readonly handlers = new Map<number, EventHandler>();
  private readonly listeners = new Map<number, (value: unknown) => void>();
  private readonly consumers = new Set<number>();
  private readonly handles = new Set<number>();
  private readonly inflight = new InFlight();
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly port: MessagePort,
    private readonly onError: (err: unknown, context: string) => void = (err, context) => console.error(`[port transport] ${context}:`, err),
  ) {
    port.on('message', (m: Down) => this.receive(m));
  }

  private receive(m: Down): void {
    switch (m.t) {
      case 'result': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(revive(m.error));
        return;
      }
      case 'serve': {
        const responder = this.responders.get(m.handle);
        const reply = responder
          ? answer(responder, m.msg, (err) => this.onError(err, `responder on ${m.msg.subject}`))
          : Promise.reject(new NoRespondersError(m.msg.subject));
        this.settle(m.id, reply);
        return;
      }
      case 'deliver': {
        const handler = this.handlers.get(m.handle);
        this.settle(m.id, handler ? Promise.resolve().then(() => handler(m.delivery)) : Promise.reject(new TransportClosedError()));
        return;
      }
      case 'event':
        this.listeners.get(m.handle)?.(m.value);
        return;
    }
  }

  /** Answers a serve or a delivery with what `work` comes to. */
  private settle(id: number, work: Promise<unknown>): void {
    const p = work.then(
      (value) => this.post({ t: 'answer', id, ok: true, value }),
      (err: unknown) => this.post({ t: 'answer', id, ok: false, error: toWire(err) }),
    );
    this.inflight.track(p);
  }

  private post(m: Up): void {
    this.port.postMessage(m);
  }

  private call<T>(call: Call): Promise<T> {
    if (this.closed) return Promise.reject(new TransportClosedError());
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.post({ t: 'call', id, call });
    });
  }

  private closer(handle: number): Closer {
    this.handles.add(handle);
    return { close: () => this.closeHandle(handle) };
  }

  private async closeHandle(handle: number): Promise<void> {
    if (!this.handles.delete(handle)) return;
    await this.call({ op: 'close', handle });
    this.responders.delete(handle);
    this.handlers.delete(handle);
    this.listeners.delete(handle);
    this.consumers.delete(handle);
  }

  request(subject: string, data: string, opts: RequestOptions): Promise<Message> {
    return this.call<Message>({ op: 'request', subject, data, opts });
  }

  async respond(subject: string, responder: Responder, opts: RespondOptions = {}): Promise<Closer> {
    const handle = this.nextHandle++;
    this.responders.set(handle, responder);
    await this.call({ op: 'respond', handle, subject, queue: opts.queue });
    return this.closer(handle);
  }

  async subscribeAll(subject: string, onMsg: (m: Message) => void): Promise<Closer> {
    const handle = this.nextHandle++;
    this.listeners.set(handle, (v) => onMsg(v as Message));
    await this.call({ op: 'subscribeAll', handle, subject });
    return this.closer(handle);
  }

  publish(subject: string, data: string, headers: Headers, msgId: string): Promise<PublishAck> {
    return this.call<PublishAck>({ op: 'publish', subject, data, headers, msgId });
  }

  async consume(opts: ConsumeOptions, handler: EventHandler): Promise<Closer> {
    const handle = this.nextHandle++;
    this.handlers.set(handle, handler);
    this.consumers.add(handle);
    await this.call({ op: 'consume', handle, opts });
    return this.closer(handle);
  }

  ensureStream(name: string, subjects: readonly string[]): Promise<void> {
    return this.call<void>({ op: 'ensureStream', name, subjects: [...subjects] });
  }

  async kv(bucket: string): Promise<Kv> {
    if (this.closed) throw new TransportClosedError();
    return {
      // The bus is in this process's parent, over a port: nothing between to be cut off.
      ping: () => Promise.resolve(),
      get: (key, opts) => this.call<KvEntry | undefined>({ op: 'kv.get', bucket, key, ...(opts ? { opts } : {}) }),
      put: (key, value) => this.call<number>({ op: 'kv.put', bucket, key, value }),
      create: (key, value) => this.call<KvEntry | undefined>({ op: 'kv.create', bucket, key, value }),
      update: (key, value, revision) => this.call<number | undefined>({ op: 'kv.update', bucket, key, value, revision }),
      watch: async (filter, onEntry, opts) => {
        const handle = this.nextHandle++;
        this.listeners.set(handle, (v) => onEntry(v as KvEntry));
        await this.call({ op: 'kv.watch', handle, bucket, filter, opts });
        return this.closer(handle);
      },
    };
  }

  drain(): Promise<void> {
    this.draining ??= this.doDrain();
    return this.draining;
  }

  private async doDrain(): Promise<void> {
    // Consumers first, as the in-process transport does: their handlers may still make requests.
    const closeAll = async (only?: Set<number>) => {
      const mine = [...this.handles].filter((h) => !only || only.has(h));
      await Promise.allSettled(mine.map((h) => this.closeHandle(h)));
    };
    await closeAll(this.consumers);
    await closeAll();
    await this.inflight.settled();
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new TransportClosedError());
    this.pending.clear();
    this.port.close();
  }
}
