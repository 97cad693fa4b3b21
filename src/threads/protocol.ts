/**
 * What the main thread and a service thread say to each other (threads.ts, service-thread.ts).
 * Kept apart so that the main thread's side needs no import of the thread's entry, which itself
 * imports the system that starts the threads.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SystemConfig } from '../config.ts';
import type { BackendService } from '../registry.ts';

export interface ServiceThreadData {
  entry: string;
  services: BackendService[];
  config: SystemConfig;
  /** pino level; 'silent' when the main thread was given no logger (tests). */
  logLevel: string;
  port: MessagePort;
}

export type FromThread = { t: 'ready' } | { t: 'failed'; message: string } | { t: 'stopped' };
export type ToThread = { t: 'stop' } | { t: 'kill' };
