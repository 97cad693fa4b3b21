/**
 * A Server-Sent Events stream over a raw HTTP response: `event:`/`id:`/`data:` frames, a `retry:`
 * hint for the browser's reconnect, comment heartbeats so proxies keep an idle stream open, and one
 * place that tidies up however the stream ends (client gone, final event, server closing). The
 * shoppers' status stream and the saga explorer's live views both use it.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface SseOptions {
  /** The reconnect delay the browser is told to use. */
  retryMs: number;
  /** How often an idle stream sends a comment, so proxies keep it open. */
  heartbeatMs: number;
}

/** Takes the response over from Fastify and starts an event stream on it. */
export function openSse(reply: FastifyReply, opts: SseOptions): SseStream {
  reply.hijack();
  // Headers set by hooks so far (request id, security headers) would be lost with the reply.
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) reply.raw.setHeader(name, value);
  }
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  return new SseStream(reply.raw, opts);
}

export interface SseFrame {
  event: string;
  id?: string | undefined;
  data: unknown;
}

export class SseStream {
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly cleanups: (() => void)[] = [];
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    opts: SseOptions,
  ) {
    res.write(`retry: ${opts.retryMs}\n\n`);
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), opts.heartbeatMs);
    this.heartbeat.unref();
    res.once('close', () => this.end());
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** Runs `fn` once, when the stream ends for whatever reason. */
  onEnd(fn: () => void): void {
    if (this.ended) fn();
    else this.cleanups.push(fn);
  }

  send(frame: SseFrame): void {
    const lines = [`event: ${frame.event}`];
    if (frame.id !== undefined) lines.push(`id: ${frame.id}`);
    // JSON never contains a raw newline, so one data line carries the whole document.
    lines.push(`data: ${JSON.stringify(frame.data)}`);
    this.write(`${lines.join('\n')}\n\n`);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (!this.res.writableEnded) this.res.end();
    for (const fn of this.cleanups.splice(0)) fn();
  }

  private write(chunk: string): void {
    if (this.ended || this.res.writableEnded) return;
    this.res.write(chunk);
  }
}
