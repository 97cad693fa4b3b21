/**
 * Errors Node's HTTP parser raises before any route (unknown method, oversized headers, malformed
 * framing), and too many header lines, answer `{code, message}` like every other error. Sent over
 * raw sockets, since no HTTP client will write such requests.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/gateway/server.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';

function raw(port: number, request: string): Promise<{ status: number; headers: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      resolve({ status, headers: head, body: body ? JSON.parse(body) : undefined });
    });
  });
}

describe('parser-level HTTP errors', () => {
  let bus: InProcessTransport;
  let server: RunningServer;

  beforeAll(async () => {
    bus = new InProcessTransport({ path: ':memory:' });
    server = await startServer({ port: 0, transport: bus, config: { rateLimit: false } });
  });
  afterAll(async () => {
    await server?.close();
    await bus?.drain();
  });

  it('an unknown method: 400 {code, message}', async () => {
    const r = await raw(server.port, 'FROB /products HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.status).toBe(400);
    expect(r.headers).toMatch(/content-type: application\/json/i);
    expect(r.body).toEqual({ code: 'BAD_REQUEST', message: 'unknown HTTP method' });
  });

  it('headers larger than the limit: 431 {code, message}', async () => {
    const r = await raw(server.port, `GET /products HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.body).toEqual({ code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than the server accepts' });
  });

  it('too many header lines: 431 {code, message}', async () => {
    const lines = Array.from({ length: 150 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const r = await raw(server.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${lines}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.body).toMatchObject({ code: 'HEADERS_TOO_LARGE' });
  });

  it('malformed framing (Content-Length and chunked together, a bad chunk): 400 {code, message}', async () => {
    const both = await raw(server.port, 'POST /carts/x/items HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    expect(both.status).toBe(400);
    expect(both.body).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/^malformed HTTP request \(HPE_/) as unknown });
    const chunk = await raw(server.port, 'POST /carts/x/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    expect(chunk.status).toBe(400);
    expect(chunk.body).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('a URL the router cannot decode: 400 {code, message}', async () => {
    const r = await raw(server.port, 'GET /products/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'BAD_REQUEST' });
  });
});
