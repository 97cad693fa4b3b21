/**
 * Everything is parsed where it enters. An inbound NATS message must carry the CloudEvents headers,
 * have the expected `ce-type`, and a body that parses with the message's zod schema; otherwise the
 * sender gets a BAD_REQUEST error reply naming the problem, and nothing changes.
 */
import type { ZodType } from 'zod';
import { headersToMeta, MissingHeaderError, type MessageMeta } from '../contracts/headers.ts';
import { ErrorCode, RemoteError } from './transport/errors.ts';
import type { Delivery, Message } from './transport/transport.ts';

export interface Parsed<T> {
  meta: MessageMeta;
  payload: T;
}

/** Formats zod issues as `path: message; …`. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}

export function parseBody<T>(schema: ZodType<T>, data: string): T {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new RemoteError(ErrorCode.badRequest, 'body is not valid JSON');
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new RemoteError(ErrorCode.badRequest, describeIssues(r.error.issues));
  return r.data;
}

export function parseMessage<T>(msg: Message, schema: ZodType<T>, expectedType: string | readonly string[]): Parsed<T> {
  let meta: MessageMeta;
  try {
    meta = headersToMeta(msg.headers);
  } catch (err) {
    if (err instanceof MissingHeaderError) throw new RemoteError(ErrorCode.badRequest, err.message);
    throw err;
  }
  const types = typeof expectedType === 'string' ? [expectedType] : expectedType;
  if (!types.includes(meta.type)) {
    throw new RemoteError(ErrorCode.badRequest, `unexpected message type ${meta.type} on ${msg.subject}, expected ${types.join(' or ')}`);
  }
  return { meta, payload: parseBody(schema, msg.data) };
}

/**
 * A consumed event, parsed; or undefined, logged, for one that does not parse: redelivering it
 * would never help, so the consumer acknowledges it and moves on.
 */
export function parseEventOrDrop<T>(
  log: { warn(obj: object, msg: string): void },
  d: Delivery,
  schema: ZodType<T>,
  type: string,
): Parsed<T> | undefined {
  try {
    return parseMessage(d, schema, type);
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    log.warn({ err, subject: d.subject, seq: d.seq }, 'dropping an event that does not parse');
    return undefined;
  }
}
