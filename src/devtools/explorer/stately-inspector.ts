/**
 * The Stately inspector bridge, for developers with internet access.
 *
 * With INSPECT=1 every actor host reports its committed transitions (actor, event, snapshot) to a
 * @statelyai/inspect WebSocket inspector. By default this process also starts the package's
 * local relay (`createInspectorServer`) on INSPECT_PORT (8080): open http://localhost:8080 and the
 * relay page embeds Stately's inspector UI, which is loaded from stately.ai and so needs internet.
 * With INSPECT_URL=ws://host:port the reports go to a relay that is already running (one relay for
 * several processes). Offline, use the saga explorer (/explorer) instead: it needs nothing outside.
 */
import type { HostInspector } from '../../runtime/inspection.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface StatelyBridge {
  inspector: HostInspector;
  /** Where a developer opens the inspector, when this process runs the relay. */
  url: string | undefined;
  stop(): void;
}

export function inspectRequested(env: Env): boolean {
  const v = (env.INSPECT ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

/** Starts the bridge that INSPECT / INSPECT_PORT / INSPECT_URL ask for, or returns undefined. */
export async function statelyBridgeFromEnv(env: Env): Promise<StatelyBridge | undefined> {
  if (!inspectRequested(env)) return undefined;
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const given = env.INSPECT_URL;
  let server: { stop(): void } | undefined;
  let url: string | undefined;
  let wsUrl = given;
  if (!wsUrl) {
    const port = Number(env.INSPECT_PORT ?? 8080);
    if (!Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`INSPECT_PORT must be a TCP port, got "${env.INSPECT_PORT}"`);
    const { createInspectorServer } = await import('@statelyai/inspect/server');
    server = createInspectorServer({ port, autoOpen: false });
    url = `http://localhost:${port}`;
    wsUrl = `ws://localhost:${port}`;
  }
  const inspector = createWebSocketInspector({ url: wsUrl });
  return {
    inspector,
    url,
    stop() {
      inspector.stop();
      server?.stop();
    },
  };
}
