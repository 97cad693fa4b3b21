/**
 * Checks made before anything opens, and how a process that cannot start says so: one line on
 * stderr naming the variable, its value and the fix, exit code 2, no stack trace. Only failures
 * nobody could have fixed by configuration (a bug) are logged in full, with exit code 1.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { ConfigError } from './env.ts';

/** DATA_DIR exists (it is created if missing) and this user may write it. */
export function checkDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError('DATA_DIR', dir, `is not a writable directory (${code})`, 'Set DATA_DIR to a directory this user may write');
  }
}

/** Binds and releases `host:port`, so a port in use is reported before six services start. */
export function checkPortFree(variable: string, host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(portError(variable, host, port, err)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** The one line for a listen error on a configured port; other errors are returned as they are. */
export function portError(variable: string, host: string, port: number, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EADDRINUSE') {
    return new ConfigError(variable, String(port), `cannot be used: ${host}:${port} is already in use (another instance?)`, `Stop what holds it, or set ${variable} to a free port, e.g. ${variable}=${port + 1}`);
  }
  if (err.code === 'EACCES') {
    return new ConfigError(variable, String(port), `cannot be used: this user may not listen on ${host}:${port}`, `Set ${variable} to a port above 1023`);
  }
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
    return new ConfigError('HOST', host, `is not an address of this machine (${err.code})`, 'Set HOST to an interface address such as 127.0.0.1 or 0.0.0.0');
  }
  return err;
}

interface FatalLog {
  fatal(obj: object, msg?: string): void;
}

/** Ends the process: one line and code 2 for a configuration problem, the full error and code 1 otherwise. */
export function exitWithConfigError(err: unknown, log?: FatalLog): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`config error: ${err.message}\n`);
    process.exit(2);
  }
  // By name: importing the store (and SQLite) here would slow down every early exit.
  if (err instanceof Error && err.name === 'StoreInUse') {
    process.stderr.write(`config error: DATA_DIR: ${err.message}. Stop the other process, or give this one its own DATA_DIR\n`);
    process.exit(2);
  }
  if (log) log.fatal({ err }, 'could not start');
  else process.stderr.write(`could not start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
