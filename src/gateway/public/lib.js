// Storefront helpers: DOM building, money, ids, toasts, and the JSON API client. No framework.

export const $ = (id) => document.getElementById(id);
export const store = {
  get: (k) => localStorage.getItem(`acme.${k}`),
  set: (k, v) => (v === null ? localStorage.removeItem(`acme.${k}`) : localStorage.setItem(`acme.${k}`, v)),
};

/** A v4 UUID; crypto.randomUUID exists only on secure origins, getRandomValues everywhere. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * A UUID v7 (RFC 9562): 48 bits of Unix time in milliseconds, then random bits. For a new cart's
 * id: the services key a checkout's records by ids derived from it, and they keep its time, so the
 * shop's tables are appended to rather than written at random places (src/runtime/ids.ts).
 */
export function uuidv7() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, val);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

const formatters = new Map();
export function money(minor, currency) {
  if (minor === undefined) return '';
  let f = formatters.get(currency);
  if (!f) {
    f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    formatters.set(currency, f);
  }
  return f.format(minor / 10 ** (f.resolvedOptions().maximumFractionDigits ?? 2));
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.retryAfter = retryAfter;
  }
}

let authorization;
/** The `Authorization` header every API call carries from now on (session.js; undefined: none). */
export function setAuthorization(value) {
  authorization = value;
}

export async function api(method, path, body, headers = {}) {
  const res = await fetch(path, {
    method,
    headers: {
      accept: 'application/json',
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(authorization ? { authorization } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => undefined);
  if (!res.ok) throw new ApiError(res.status, json, res.headers.get('retry-after'));
  return { json, headers: res.headers };
}

let toastTimer;
export function hideToast() {
  clearTimeout(toastTimer);
  $('toast').hidden = true;
}

export function toast(message) {
  const t = $('toast');
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 4000);
}

export function explain(err) {
  if (!(err instanceof ApiError)) return 'We could not reach the shop. Check your connection and try again.';
  if (err.status === 503 || err.status === 429) {
    return `The shop is busy right now. Please try again in ${err.retryAfter ?? 'a few'} seconds.`;
  }
  if (err.status >= 500) return 'Something went wrong on our side. Please try again.';
  return err.message;
}
