/**
 * The explorer's one HTML shell. The view and its ids travel as data attributes; the script
 * (public/explorer.js, same origin, no inline code, so a `script-src 'self'` CSP is enough) reads
 * them and builds the page from the JSON API.
 */
import type { ParticipantKind } from './view.ts';

export type PageView =
  | { view: 'list' }
  | { view: 'checkout'; checkoutId: string }
  | { view: 'participant'; kind: ParticipantKind; actorId: string; checkoutId: string | undefined };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `recorded`: the title of a recorded run the explorer shows instead of the running system. */
export function explorerPage(v: PageView, recorded?: string): string {
  const attrs: Record<string, string> = { 'data-view': v.view };
  if (recorded) attrs['data-recorded'] = recorded;
  if (v.view === 'checkout') attrs['data-checkout-id'] = v.checkoutId;
  if (v.view === 'participant') {
    attrs['data-kind'] = v.kind;
    attrs['data-actor-id'] = v.actorId;
    if (v.checkoutId) attrs['data-checkout-id'] = v.checkoutId;
  }
  const title = v.view === 'list' ? 'Sagas' : v.view === 'checkout' ? `Checkout ${v.checkoutId.slice(0, 8)}` : `${v.kind} ${v.actorId.slice(0, 8)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Saga explorer</title>
<link rel="stylesheet" href="/explorer/assets/explorer.css">
<script src="/explorer/assets/explorer.js" defer></script>
</head>
<body ${Object.entries(attrs).map(([k, val]) => `${k}="${esc(val)}"`).join(' ')}>
<header class="top"><a href="/explorer" class="brand">Saga explorer</a><span id="live" class="live" data-state="connecting">connecting…</span></header>
<main id="app"><p class="muted">Loading…</p></main>
<noscript>The explorer needs JavaScript (served from this gateway; nothing is fetched from elsewhere).</noscript>
</body>
</html>
`;
}
