// Who the shopper is, in the gateway's two modes (GET /auth/config; docs/security.md):
//  - off: a guest. A random customer id kept in localStorage, as the catalog's open contract allows.
//  - jwt: the shop's own login hands the storefront a token: it redirects back to `/#token=<JWT>`
//    (a fragment never reaches a server or its logs). The token is kept in sessionStorage (gone
//    with the tab), sent as `Authorization: Bearer`, and its subject is the customer id. It is not
//    verified here; the gateway does that on every call. Without a valid one the shopper is
//    offered the login (AUTH_LOGIN_URL).
// EventSource cannot send an Authorization header, so under jwt checkout progress is read from
// the same SSE endpoint with fetch (a small reader below with EventSource's reconnect rules).

import { h, setAuthorization, store, uuid } from './lib.js';

const TOKEN_KEY = 'acme.token';

function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return undefined;
  }
}

function tokenFromLogin() {
  const m = /(?:^#|&)token=([A-Za-z0-9._~+/=-]+)/.exec(location.hash);
  if (!m) return sessionStorage.getItem(TOKEN_KEY);
  sessionStorage.setItem(TOKEN_KEY, m[1]);
  // Out of the address bar and history, so it is not bookmarked or shared by accident.
  history.replaceState(null, '', location.pathname + location.search);
  return m[1];
}

async function authConfig() {
  try {
    const res = await fetch('/auth/config', { headers: { accept: 'application/json' } });
    if (res.ok) return await res.json();
  } catch {
    // The catalogue will say the shop is unreachable; shop as a guest meanwhile.
  }
  return { mode: 'off' };
}

/** The session: `{ mode, customerId, signedIn, loginUrl, signOut(), events(path) }`. */
export async function startSession() {
  const config = await authConfig();
  if (config.mode !== 'jwt') {
    const customerId = store.get('customerId') ?? uuid();
    store.set('customerId', customerId);
    return { mode: 'off', customerId, signedIn: true, events: (path) => new EventSource(path), signOut() {} };
  }
  const token = tokenFromLogin();
  const claims = token && claimsOf(token);
  const live = claims && typeof claims.sub === 'string' && (!claims.exp || claims.exp * 1000 > Date.now());
  if (live) setAuthorization(`Bearer ${token}`);
  else sessionStorage.removeItem(TOKEN_KEY);
  const loginUrl = config.loginUrl
    ? `${config.loginUrl}${config.loginUrl.includes('?') ? '&' : '?'}return_to=${encodeURIComponent(location.origin + location.pathname)}`
    : undefined;
  return {
    mode: 'jwt',
    customerId: live ? claims.sub : undefined,
    signedIn: Boolean(live),
    loginUrl,
    events: (path) => new BearerEventSource(path, `Bearer ${token}`),
    signOut() {
      sessionStorage.removeItem(TOKEN_KEY);
      setAuthorization(undefined);
    },
  };
}

/** Says who is shopping, in the line that holds `label`; offers the login when signed out. */
export function showIdentity(session, label) {
  const line = label.parentElement;
  const short = session.customerId ? `#${session.customerId.slice(0, 8)}` : '';
  if (session.mode === 'off') {
    label.textContent = short;
  } else if (session.signedIn) {
    line.replaceChildren('Signed in as ', h('span', { id: label.id }, short));
  } else {
    const login = session.loginUrl ? h('a', { href: session.loginUrl, id: 'sign-in' }, 'Sign in') : 'Sign in';
    line.replaceChildren(login, ' to place an order.');
  }
}

/** The part of EventSource the storefront uses, over fetch so that it can send a bearer token. */
class BearerEventSource extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;

  constructor(url, authorization) {
    super();
    this.readyState = BearerEventSource.CONNECTING;
    this.url = url;
    this.authorization = authorization;
    this.lastEventId = '';
    this.retryMs = 2000;
    this.controller = new AbortController();
    void this.connect();
  }

  close() {
    this.readyState = BearerEventSource.CLOSED;
    this.controller.abort();
  }

  async connect() {
    while (this.readyState !== BearerEventSource.CLOSED) {
      try {
        const headers = { accept: 'text/event-stream', authorization: this.authorization };
        if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
        const res = await fetch(this.url, { headers, signal: this.controller.signal });
        // Like EventSource: a refusal is final, only a dropped stream is retried.
        if (!res.ok || !res.body) return this.fail();
        this.readyState = BearerEventSource.OPEN;
        await this.read(res.body.pipeThrough(new TextDecoderStream()).getReader());
        // The server ends the stream after the final status; the page closes us when it sees it.
      } catch {
        if (this.readyState === BearerEventSource.CLOSED) return;
      }
      if (this.readyState === BearerEventSource.CLOSED) return;
      this.readyState = BearerEventSource.CONNECTING;
      this.dispatchEvent(new Event('error'));
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  fail() {
    this.readyState = BearerEventSource.CLOSED;
    this.dispatchEvent(new Event('error'));
  }

  async read(reader) {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      const at = line.indexOf(':');
      if (at === 0) continue; // a comment (heartbeat)
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') this.lastEventId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (data.length) this.dispatchEvent(new MessageEvent(type, { data: data.join('\n'), lastEventId: this.lastEventId }));
  }
}
