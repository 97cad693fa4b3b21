/**
 * "Worlds" for the transport conformance suite: a fresh, isolated system the suite can open
 * transports in, one per implementation. On NATS every `as(user)` is a new connection with that
 * user's permissions; in-process, every service shares the one embedded transport, as it does when
 * the system runs in a single process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { MessageChannel } from 'node:worker_threads';
import { PortTransport, servePort } from '../../src/runtime/transport/in-process/port.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';
import { credentialsFor, type NatsServerHandle, type NatsUser } from './nats-server.ts';

export interface World {
  /** A transport acting as `user`. */
  as(user: NatsUser): Promise<Transport>;
  /** Drains every transport opened so far; later `as()` calls get new ones over the same durable state. */
  restart(): Promise<void>;
  close(): Promise<void>;
  /** Failures the transports reported without a caller to throw to (responder crashes and the like). */
  readonly reported: unknown[];
}

export interface WorldFactory {
  name: string;
  world(): Promise<World>;
}

/** An in-process bus in a fresh temp dir, opened on first use; what it reports goes to `reported`. */
async function busInTempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'transport-conf-'));
  const path = join(dir, 'bus.db');
  const reported: unknown[] = [];
  let bus: InProcessTransport | undefined;
  return {
    reported,
    bus: (): InProcessTransport => (bus ??= new InProcessTransport({ path, onError: (e) => reported.push(e) })),
    /** Drains and forgets the bus: the next `bus()` reopens the same file, as a restart does. */
    drain: async (): Promise<void> => {
      await bus?.drain();
      bus = undefined;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export function inProcessWorlds(): WorldFactory {
  return {
    name: 'in-process',
    async world() {
      const b = await busInTempDir();
      return {
        reported: b.reported,
        as: async () => b.bus(),
        restart: b.drain,
        close: async () => {
          await b.drain();
          await b.remove();
        },
      };
    },
  };
}

/**
 * The in-process transport served over MessagePorts, as worker threads reach it: every `as(user)`
 * is a new channel and PortTransport, like a service in its own thread.
 */
export function portWorlds(): WorldFactory {
  return {
    name: 'in-process over MessagePort (worker threads)',
    async world() {
      const b = await busInTempDir();
      let open: PortTransport[] = [];
      const drainAll = async (): Promise<void> => {
        const all = open;
        open = [];
        await Promise.all(all.map((t) => t.drain()));
        await b.drain();
      };
      return {
        reported: b.reported,
        as: async () => {
          const { port1, port2 } = new MessageChannel();
          servePort(port1, b.bus(), (e) => b.reported.push(e));
          const t = new PortTransport(port2, (e) => b.reported.push(e));
          open.push(t);
          return t;
        },
        restart: drainAll,
        close: async () => {
          await drainAll();
          await b.remove();
        },
      };
    },
  };
}

/** Every world starts from an empty JetStream: the admin user deletes all streams (KV buckets included). */
export function natsWorlds(server: () => NatsServerHandle): WorldFactory {
  return {
    name: 'nats',
    async world() {
      const { url } = server();
      const admin = await connectNats({
        servers: url,
        ...credentialsFor('admin'),
        inboxPrefix: '_INBOX.admin',
      });
      const jsm = await jetstreamManager(admin.nc);
      for await (const name of jsm.streams.names()) await jsm.streams.delete(name);
      await admin.drain();
      const reported: unknown[] = [];
      let open: NatsTransport[] = [];
      const drainAll = async (): Promise<void> => {
        const all = open;
        open = [];
        await Promise.all(all.map((t) => t.drain()));
      };
      return {
        reported,
        as: async (user) => {
          const t = await connectNats({
            servers: url,
            ...credentialsFor(user),
            name: user,
            inboxPrefix: `_INBOX.${user}`,
            onError: (e) => reported.push(e),
          });
          open.push(t);
          return t;
        },
        restart: drainAll,
        close: drainAll,
      };
    },
  };
}
