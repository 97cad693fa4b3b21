/**
 * The reply protocol both transports share: an error reply carries the `x-error-code` header and a
 * `{code, message}` body; anything else is a success. A responder that throws something other than
 * `RemoteError` answers INTERNAL with a generic message, so internals never leak over the wire.
 */
import { Header, type Headers } from '../../contracts/headers.ts';
import { ErrorCode, RemoteError, type ErrorBody } from './errors.ts';
import type { Message, Reply, Responder } from './transport.ts';

export function errorReply(code: string, message: string): Reply {
  const body: ErrorBody = { code, message };
  return { headers: { [Header.errorCode]: code }, data: JSON.stringify(body) };
}

/** Runs a responder and turns whatever it throws into an error reply. */
export async function answer(
  responder: Responder,
  msg: Message,
  onInternal: (err: unknown) => void,
): Promise<Reply> {
  try {
    return await responder(msg);
  } catch (err) {
    if (err instanceof RemoteError) return errorReply(err.code, err.message);
    onInternal(err);
    return errorReply(ErrorCode.internal, 'internal error');
  }
}

/** Throws RemoteError when the reply is an error reply; returns it unchanged otherwise. */
export function checkReply(subject: string, headers: Headers, data: string): void {
  const code = headers[Header.errorCode];
  if (code === undefined) return;
  let message = `remote error ${code}`;
  try {
    const body = JSON.parse(data) as Partial<ErrorBody>;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // keep the generic message
  }
  throw new RemoteError(code, message, subject);
}
