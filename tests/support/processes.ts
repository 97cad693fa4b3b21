/**
 * Services as real child processes (`node --import tsx src/main.ts`), for tests where a process
 * must die by SIGKILL or several instances must share work over nats-server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pingSubject, type Service } from '../../src/contracts/subjects.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnServices(env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', SQLITE_SYNCHRONOUS: 'NORMAL', SQLITE_LOCKING: 'shared', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return {
    child,
    output: () => out,
    kill: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

/** Resolves when every service answers its ping (queue group member up), or rejects after `ms`. */
export async function waitForServices(transport: Transport, services: readonly Service[], ms = 30_000, proc?: ServiceProcess): Promise<void> {
  const end = Date.now() + ms;
  for (const s of services) {
    for (;;) {
      try {
        await transport.request(pingSubject(s), '{}', { timeoutMs: 500 });
        break;
      } catch {
        if (Date.now() > end) throw new Error(`service ${s} did not come up in ${ms} ms\n${proc?.output() ?? ''}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
