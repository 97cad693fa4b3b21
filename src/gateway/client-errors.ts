/**
 * Errors raised before any route runs answer `{code, message}` like every other error:
 *  - Node's HTTP parser (unknown method, malformed request line or framing, headers over the size
 *    limit, a request that took too long): written straight to the socket, which is then closed,
 *    because the parser cannot find where the next request would start;
 *  - Fastify's router (a URL that does not decode);
 *  - too many header lines (Node only truncates them at 2,000; we refuse above 100).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpCode, HttpError } from './errors.ts';

/** More header lines than any browser or client of this API sends. */
export const MAX_HEADER_LINES = 100;

interface ParserError extends Error {
  code?: string;
}

function classify(err: ParserError): { status: number; code: string; message: string } {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request was not received in time' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than the server accepts' };
    case 'HPE_INVALID_METHOD':
      return { status: 400, code: HttpCode.badRequest, message: 'unknown HTTP method' };
    default:
      return { status: 400, code: HttpCode.badRequest, message: `malformed HTTP request (${err.code ?? 'parse error'})` };
  }
}

/** Fastify's `clientErrorHandler`: one JSON error on the raw socket, then close it. */
export function answerClientError(err: ParserError, socket: Socket): void {
  // A reset connection has nobody to answer (https://nodejs.org/api/http.html#event-clienterror).
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, code, message } = classify(err);
  const body = JSON.stringify({ code, message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Refuses requests with more than MAX_HEADER_LINES header lines (431), before their route runs. */
export function refuseTooManyHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    if (req.raw.rawHeaders.length / 2 > MAX_HEADER_LINES) {
      throw new HttpError(431, HttpCode.headersTooLarge, `more than ${MAX_HEADER_LINES} header lines`);
    }
  });
}

/** Fastify's `frameworkErrors`: a URL its router cannot decode is a 400 like any bad input. */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void reply.code(400).type('application/json').send({ code: HttpCode.badRequest, message: err.message });
}
