/**
 * A minimal Server-Sent Events reader over node's fetch, for tests: it parses frames as they
 * arrive, so a test can wait for the next event, change something, and wait again.
 */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: unknown;
}

export interface SseReader {
  headers: Headers;
  status: number;
  /** Every event received so far. */
  readonly events: SseEvent[];
  /** Comment lines (heartbeats) received so far. */
  readonly comments: number;
  /** The next event not yet taken by `next()`. */
  next(timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  ended(timeoutMs?: number): Promise<void>;
  cancel(): void;
}

export async function readSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  if (!res.ok || !res.body) throw new Error(`SSE ${url}: HTTP ${res.status} ${await res.text()}`);
  const events: SseEvent[] = [];
  let taken = 0;
  let comments = 0;
  let done = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };

  const pump = async (): Promise<void> => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = { event: 'message', id: undefined as string | undefined, data: [] as string[] };
          let hasData = false;
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) comments++;
            else if (line.startsWith('event: ')) fields.event = line.slice(7);
            else if (line.startsWith('id: ')) fields.id = line.slice(4);
            else if (line.startsWith('data: ')) {
              fields.data.push(line.slice(6));
              hasData = true;
            }
          }
          if (hasData) events.push({ event: fields.event, id: fields.id, data: JSON.parse(fields.data.join('\n')) as unknown });
          wake();
        }
      }
    } catch {
      // aborted by cancel(), or the server cut the connection
    } finally {
      done = true;
      wake();
    }
  };
  void pump();

  const waitFor = (ready: () => boolean, what: string, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`SSE ${url}: no ${what} within ${timeoutMs} ms (events so far: ${JSON.stringify(events)})`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    headers: res.headers,
    status: res.status,
    events,
    get comments() {
      return comments;
    },
    async next(timeoutMs = 10_000) {
      await waitFor(() => events.length > taken || done, 'event', timeoutMs);
      const e = events[taken];
      if (!e) throw new Error(`SSE ${url}: stream ended before another event`);
      taken++;
      return e;
    },
    ended: (timeoutMs = 10_000) => waitFor(() => done, 'end', timeoutMs),
    cancel: () => controller.abort(),
  };
}
