/**
 * The process's logger. JSON lines by default; readable lines (pino-pretty, in this process, no
 * worker thread) when stdout is a terminal or LOG_FORMAT=pretty. Every line names its `instance`
 * (INSTANCE_ID, else host:pid) and, through `forService`, the `service` that wrote it, so lines of
 * several processes interleaved in one collector still say where they came from.
 */
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LoggingOptions {
  level: string;
  format: 'json' | 'pretty' | undefined;
  instance: string | undefined;
}

/** The root logger; its own lines are the process's (`service: "main"`). */
export function createLogger(opts: LoggingOptions): Logger {
  const format = opts.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const base = { instance: opts.instance ?? `${hostname()}:${process.pid}` };
  const options = { level: opts.level, base };
  const root =
    format === 'pretty'
      ? pino(options, pretty({ sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', messageFormat: '[{service}] {msg}' }))
      : pino(options);
  return root;
}

/** A child logger whose every line names `service`. */
export const forService = (log: Logger, service: string): Logger => log.child({ service });
