/**
 * Route tests of the gateway run it against the real in-process transport, with responders that
 * stand in for the services. Each responder records what the gateway sent (subject, headers,
 * payload), so a test can prove that a bad request reached no service at all.
 */
import type { Message } from '../../../src/runtime/transport/transport.ts';
import { InProcessTransport } from '../../../src/runtime/transport/in-process/in-process.ts';
import { buildApp, type GatewayDeps } from '../../../src/gateway/app.ts';
import type { FastifyInstance } from 'fastify';

export interface Sent {
  subject: string;
  headers: Record<string, string>;
  payload: unknown;
}

export class FakeServices {
  readonly transport = new InProcessTransport({ path: ':memory:', onError: () => undefined });
  readonly sent: Sent[] = [];

  /** Answers `subject` with what `handler` returns; a thrown RemoteError becomes an error reply. */
  async on(subject: string, handler: (payload: unknown, msg: Message) => unknown): Promise<void> {
    await this.transport.respond(subject, async (msg) => {
      const payload: unknown = JSON.parse(msg.data);
      this.sent.push({ subject: msg.subject, headers: msg.headers, payload });
      const answer = await handler(payload, msg);
      return { data: typeof answer === 'string' ? answer : JSON.stringify(answer) };
    });
  }

  sentTo(subject: string): Sent[] {
    return this.sent.filter((s) => s.subject === subject);
  }

  async app(deps: Omit<GatewayDeps, 'transport'> = {}): Promise<FastifyInstance> {
    return buildApp({ transport: this.transport, ...deps });
  }

  async close(): Promise<void> {
    await this.transport.drain();
  }
}
