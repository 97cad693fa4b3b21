// The saga explorer's page script. No framework and nothing fetched from elsewhere: the DOM is
// built with `h()` (text through textContent, never innerHTML), except the statechart SVG, which
// this gateway drew itself from the machine. Live updates arrive over Server-Sent Events.
//
// Time travel: the API sends every step of the journal replayed through the machine; `cursor`
// picks one (null = follow the latest), and the chart, context and journal show that step.
'use strict';

const app = document.getElementById('app');
const liveBadge = document.getElementById('live');
const body = document.body;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const api = async (path) => {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(json.message || `HTTP ${res.status}`), { status: res.status });
  return json;
};

// A recorded run (a simulated seed's) never changes: the badge says what it is instead.
const setLive = (state, text) => {
  liveBadge.dataset.state = body.dataset.recorded ? 'recorded' : state;
  liveBadge.textContent = body.dataset.recorded ? `recorded: ${body.dataset.recorded}` : text;
};

const time = (iso) => (iso ? new Date(iso).toISOString().slice(11, 23) : '');
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
const statePath = (v) => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return Object.entries(v).map(([k, s]) => (s === undefined || (typeof s === 'object' && !Object.keys(s).length) ? k : `${k}.${statePath(s)}`)).join(' | ');
};
const short = (id) => (id ? String(id).slice(0, 8) : '');
const json = (x) => h('pre', { class: 'json' }, JSON.stringify(x, null, 2));
const section = (title, ...content) => h('section', { class: 'panel' }, h('h2', {}, title), ...content);
const table = (head, rows, attrs) =>
  h('table', attrs || {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))), h('tbody', {}, rows));

// ---- statechart --------------------------------------------------------------------------------

async function loadChart(name, container) {
  const m = await api(`/explorer/api/machines/${encodeURIComponent(name)}`);
  container.innerHTML = m.svg; // drawn by this gateway from the machine, not from user input
  return m;
}

// Elements for the chart, in the namespace of the SVG this gateway drew.
const svgEl = (tag, attrs, text) => {
  const el = document.createElementNS(document.querySelector('svg.statechart').namespaceURI, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
};

/**
 * The path the saga took up to step `upto`, drawn on the chart: every state it was in and every
 * transition it took stay marked, and each transition carries the numbers of the steps that took
 * it (hover for their times and events). Steps of an operator's action are marked apart.
 */
function drawPath(container, steps, upto) {
  const svg = container.querySelector('svg');
  if (!svg) return;
  for (const el of svg.querySelectorAll('.sc-path-marker')) el.remove();
  for (const el of svg.querySelectorAll('.sc-on-path, .sc-visited')) el.classList.remove('sc-on-path', 'sc-visited');
  const byEdge = new Map();
  for (let k = 0; k <= upto && k < steps.length; k++) {
    for (const id of steps[k].activeIds || []) svg.querySelector(`[data-state-id="${CSS.escape(id)}"]`)?.classList.add('sc-visited');
    if (k === 0) continue;
    for (const id of steps[k].takenEdges || []) byEdge.set(id, [...(byEdge.get(id) || []), k]);
  }
  const layer = svgEl('g', { class: 'sc-path-marker', 'data-testid': 'path-markers' });
  for (const [id, ks] of byEdge) {
    const edge = svg.querySelector(`[data-edge-id="${CSS.escape(id)}"]`);
    const line = edge?.querySelector('path');
    if (!edge || !line) continue;
    edge.classList.add('sc-on-path');
    const at = line.getPointAtLength(line.getTotalLength() / 2);
    const label = ks.join(',');
    const w = 12 + label.length * 10;
    const operator = ks.some((k) => steps[k].event.type.startsWith('operator.'));
    const mark = svgEl('g', { class: `sc-step${operator ? ' operator' : ''}`, 'data-edge-id': id, 'data-steps': label });
    mark.append(
      svgEl('title', {}, ks.map((k) => `#${steps[k].seq} ${time(new Date(steps[k].at).toISOString())} ${steps[k].event.type}`).join('\n')),
      svgEl('rect', { x: at.x - w / 2, y: at.y - 12, width: w, height: 24, rx: 12 }),
      svgEl('text', { x: at.x, y: at.y + 5.5, 'text-anchor': 'middle' }, label),
    );
    layer.append(mark);
  }
  svg.append(layer);
}

/**
 * Zoom (wheel, +/−) and pan (drag) by moving the SVG's viewBox; "fit" shows the whole chart.
 * The chart's box keeps the drawing's proportions, so every zoom level reads the same way.
 */
function zoomable(container) {
  const svg = container.querySelector('svg');
  const base = svg.viewBox.baseVal;
  const full = { x: base.x, y: base.y, w: base.width, h: base.height };
  let v = { ...full };
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.classList.add('zoomable');
  const apply = () => {
    svg.setAttribute('viewBox', `${v.x} ${v.y} ${v.w} ${v.h}`);
    container.dataset.zoom = (full.w / v.w).toFixed(2);
  };
  const zoomBy = (f, cx = v.x + v.w / 2, cy = v.y + v.h / 2) => {
    const w = Math.min(full.w, Math.max(full.w / 12, v.w / f));
    const h = (w / full.w) * full.h;
    v = { x: cx - ((cx - v.x) * w) / v.w, y: cy - ((cy - v.y) * h) / v.h, w, h };
    apply();
  };
  const toChart = (e) => {
    const r = svg.getBoundingClientRect();
    return { x: v.x + ((e.clientX - r.left) / r.width) * v.w, y: v.y + ((e.clientY - r.top) / r.height) * v.h };
  };
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const p = toChart(e);
    zoomBy(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
  }, { passive: false });
  let drag;
  svg.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, v: { ...v } };
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    v = { ...v, x: drag.v.x - ((e.clientX - drag.x) / r.width) * v.w, y: drag.v.y - ((e.clientY - drag.y) / r.height) * v.h };
    apply();
  });
  svg.addEventListener('pointerup', () => (drag = undefined));
  apply();
  return {
    controls: h('span', { class: 'zoom', 'data-testid': 'zoom' },
      h('button', { type: 'button', title: 'zoom in (or the mouse wheel)', 'data-testid': 'zoom-in', onclick: () => zoomBy(1.5) }, '+'),
      h('button', { type: 'button', title: 'zoom out', 'data-testid': 'zoom-out', onclick: () => zoomBy(1 / 1.5) }, '−'),
      h('button', { type: 'button', title: 'the whole chart', 'data-testid': 'zoom-fit', onclick: () => ((v = { ...full }), apply()) }, 'fit'),
      h('span', { class: 'muted' }, 'drag to pan')),
    /** Centres the view on a state, zoomed in enough to read it. */
    focus(stateId) {
      const box = svg.querySelector(`[data-state-id="${CSS.escape(stateId)}"]`)?.getBBox?.();
      if (!box) return;
      const w = Math.min(full.w, Math.max(full.w / 2.5, box.width * 3));
      const hgt = (w / full.w) * full.h;
      v = { x: box.x + box.width / 2 - w / 2, y: box.y + box.height / 2 - hgt / 2, w, h: hgt };
      apply();
    },
  };
}

function highlight(container, activeIds, takenEdges) {
  for (const el of container.querySelectorAll('.sc-active, .sc-taken')) el.classList.remove('sc-active', 'sc-taken');
  for (const id of activeIds || []) container.querySelector(`[data-state-id="${CSS.escape(id)}"]`)?.classList.add('sc-active');
  for (const id of takenEdges || []) container.querySelector(`[data-edge-id="${CSS.escape(id)}"]`)?.classList.add('sc-taken');
}

// ---- list --------------------------------------------------------------------------------------

async function listView() {
  const params = new URLSearchParams(location.search);
  // Recent checkouts first: a moment after checkouts finish, "in flight" is empty.
  const filter = { inFlight: params.get('inflight') === '1', state: params.get('state') || '', q: params.get('q') || '' };
  let rows = [];
  let cursor;
  const stateSelect = h('select', { id: 'state-filter', onchange: () => ((filter.state = stateSelect.value), reload()) });
  const scope = h('select', { id: 'scope-filter', onchange: () => ((filter.inFlight = scope.value === 'inflight'), reload()) },
    h('option', { value: 'all' }, 'Recent'), h('option', { value: 'inflight' }, 'In flight'));
  scope.value = filter.inFlight ? 'inflight' : 'all';
  const tbody = h('tbody');
  const more = h('button', { type: 'button', onclick: () => load(true) }, 'Load more');
  const count = h('span', { class: 'muted', 'data-testid': 'count' });
  const empty = h('div', { class: 'empty', 'data-testid': 'empty', hidden: true });
  // Whatever the person has: the orchestrators match it against every checkout they hold.
  const searchInput = h('input', { type: 'search', id: 'search', value: filter.q, size: '44',
    placeholder: 'ACME-7K3F-Q9TX, or a checkout, order, cart or customer id', 'aria-label': 'search checkouts' });
  const search = h('form', { class: 'controls', role: 'search', 'data-testid': 'search', onsubmit: (e) => {
    e.preventDefault();
    filter.q = searchInput.value.trim();
    void reload();
  } }, h('label', {}, 'Find ', searchInput), h('button', { type: 'submit' }, 'Search'),
  h('button', { type: 'button', onclick: () => ((searchInput.value = ''), (filter.q = ''), reload()) }, 'Clear'));
  app.replaceChildren(
    h('h1', {}, 'Checkouts'),
    search,
    h('div', { class: 'controls' }, h('label', {}, 'Show ', scope), h('label', {}, 'State ', stateSelect), h('button', { type: 'button', onclick: () => reload() }, 'Refresh'), count),
    empty,
    h('table', { class: 'list', 'data-testid': 'checkouts' },
      h('thead', {}, h('tr', {}, ['Checkout', 'Order', 'State', 'Status', 'Updated', 'Total', 'Failure', 'Events'].map((c) => h('th', {}, c)))), tbody),
    more,
  );

  function emptyText() {
    if (filter.q)
      return [`No checkout matches “${filter.q}”. `, 'Search takes a short order number (ACME-XXXX-XXXX, as the shop shows it) or a whole checkout, order, cart or customer id.',
        filter.inFlight || filter.state ? ' The filters above narrow it too: set Show to Recent and State to any.' : ''];
    if (filter.inFlight)
      return ['No checkout is in flight right now: they finish within seconds. ',
        h('a', { href: '/explorer', onclick: (e) => { e.preventDefault(); scope.value = 'all'; filter.inFlight = false; void reload(); } }, 'Show recent checkouts'), '.'];
    if (filter.state) return [`No checkout is in ${filter.state}. Set State to any to see them all.`];
    return ['No checkouts yet. Check out a cart in the shop (', h('a', { href: '/' }, 'the storefront'),
      ', or POST /carts/{cartId}/checkout) and it appears here as it happens.'];
  }

  async function load(append) {
    const q = new URLSearchParams({ limit: '50' });
    if (filter.inFlight) q.set('inFlight', 'true');
    if (filter.state) q.set('state', filter.state);
    if (filter.q) q.set('q', filter.q);
    if (append && cursor) q.set('cursor', cursor);
    const page = await api(`/explorer/api/checkouts?${q}`);
    rows = append ? rows.concat(page.checkouts) : page.checkouts;
    cursor = page.nextCursor;
    more.hidden = !cursor;
    const inFlight = (s) => page.facets.filter((f) => f.state === s || f.state.startsWith(`${s}.`)).reduce((t, f) => t + f.count, 0);
    stateSelect.replaceChildren(h('option', { value: '' }, 'any'), ...page.states.map((s) => {
      const n = inFlight(s);
      return h('option', { value: s }, n ? `${s} (${n} in flight)` : s);
    }));
    stateSelect.value = filter.state;
    // An orchestrator instance that registered but did not answer: its checkouts are not in this page.
    const missing = page.unreachable ? page.unreachable.length : 0;
    count.textContent = `${rows.length}${cursor ? '+' : ''} shown${filter.q ? ` matching “${filter.q}”` : ''}${missing ? ` · ${missing} orchestrator instance${missing > 1 ? 's' : ''} did not answer: ${missing > 1 ? 'their' : 'its'} checkouts are missing` : ''}`;
    empty.hidden = rows.length > 0;
    if (!rows.length) empty.replaceChildren(...emptyText());
    tbody.replaceChildren(...rows.map((c) =>
      h('tr', { 'data-checkout-id': c.checkoutId },
        h('td', {}, h('a', { href: `/explorer/checkouts/${c.checkoutId}` }, short(c.checkoutId))),
        h('td', { class: 'order-number', title: c.orderId || '' }, c.orderNumber || ''),
        h('td', { class: 'state' }, c.state),
        h('td', {}, h('span', { class: `badge ${c.status}` }, c.status)),
        h('td', {}, when(c.updatedAt)),
        h('td', { class: 'num' }, c.total !== undefined ? `${(c.total / 100).toFixed(2)} ${c.currency || ''}` : ''),
        h('td', {}, c.failure || ''),
        h('td', { class: 'num' }, c.seq))));
  }
  function reload() {
    const q = new URLSearchParams();
    if (filter.inFlight) q.set('inflight', '1');
    if (filter.state) q.set('state', filter.state);
    if (filter.q) q.set('q', filter.q);
    history.replaceState(null, '', `/explorer${q.toString() ? `?${q}` : ''}`);
    return load(false).catch(showError);
  }
  await reload();
  let pending;
  const events = new EventSource('/explorer/api/checkouts/stream');
  events.addEventListener('ready', () => setLive('live', 'live'));
  events.addEventListener('changed', () => {
    clearTimeout(pending);
    pending = setTimeout(reload, 300);
  });
  events.onerror = () => setLive('offline', 'reconnecting…');
}

// ---- one checkout ------------------------------------------------------------------------------

async function checkoutView(checkoutId) {
  let view;
  let cursor = null; // null: follow the latest step
  const chart = h('div', { class: 'chart', 'data-testid': 'chart' });
  const header = h('div', { class: 'summary' });
  const travel = h('div', { class: 'travel', 'data-testid': 'time-travel' });
  const pathList = h('ol', { class: 'path', 'data-testid': 'path' });
  const panels = h('div', { class: 'panels' });
  app.replaceChildren(h('h1', {}, 'Checkout ', h('code', {}, checkoutId)), header, travel, chart,
    h('details', { class: 'panel path-panel', open: true }, h('summary', {}, 'The path this saga took'), pathList), panels);
  await loadChart('checkout', chart);
  const zoom = zoomable(chart);

  const stepIndex = () => (cursor === null ? view.steps.length - 1 : cursor);
  const go = (i) => {
    if (!view) return;
    const last = view.steps.length - 1;
    cursor = i >= last ? null : Math.max(0, i);
    render();
  };
  document.addEventListener('keydown', (e) => {
    if (!view || e.target instanceof HTMLInputElement) return;
    if (e.key === 'ArrowLeft') go(stepIndex() - 1);
    if (e.key === 'ArrowRight') go(stepIndex() + 1);
  });

  function render() {
    const t = view.trace;
    const i = stepIndex();
    const step = view.steps[i];
    highlight(chart, step.activeIds, step.takenEdges);
    drawPath(chart, view.steps, i);
    pathList.replaceChildren(...view.steps.slice(1).map((s, k) =>
      h('li', { class: [k + 1 === i ? 'selected' : '', k + 1 > i ? 'later' : '', s.event.type.startsWith('operator.') ? 'operator' : ''].join(' '),
        'data-seq': s.seq, value: s.seq, onclick: () => go(k + 1) },
        h('span', { class: 'muted' }, time(new Date(s.at).toISOString())), ' ', h('code', {}, s.event.type),
        s.event.type.startsWith('operator.') ? h('span', { class: 'badge operator' }, 'operator') : null,
        ' ', statePath(s.from), ' → ', h('strong', {}, statePath(s.to)))));
    body.dataset.step = String(step.seq);
    body.dataset.currentState = statePath(step.to);
    body.dataset.status = t.status;
    header.replaceChildren(
      h('span', { class: `badge ${t.status}` }, t.status),
      h('span', { class: 'state', 'data-testid': 'current-state' }, t.state),
      h('span', { class: 'state', 'data-testid': 'order-number', title: t.orderId || '' }, `order ${view.orderNumber}`),
      t.state.includes('needsAttention') ? operatorActions(t) : '',
      h('span', { class: 'muted' }, `${t.seq} events · machine v${t.machineVersion} · updated ${when(t.updatedAt)}`),
      view.replay.consistent
        ? h('span', { class: 'ok' }, `replay with machine v${view.replay.machineVersion} agrees`)
        : h('span', { class: 'warn' }, `replay with machine v${view.replay.machineVersion} differs at ${view.replay.divergences.map((d) => `#${d.seq}`).join(', ') || 'the end'}`),
    );
    const last = view.steps.length - 1;
    const slider = h('input', { type: 'range', min: '0', max: String(last), value: String(i), 'aria-label': 'step', oninput: (e) => go(Number(e.target.value)) });
    travel.replaceChildren(
      h('button', { type: 'button', title: 'first step', onclick: () => go(0), disabled: i === 0 }, '|◀'),
      h('button', { type: 'button', title: 'step back (←)', 'data-testid': 'step-back', onclick: () => go(i - 1), disabled: i === 0 }, '◀'),
      slider,
      h('button', { type: 'button', title: 'step forward (→)', 'data-testid': 'step-forward', onclick: () => go(i + 1), disabled: i === last }, '▶'),
      h('button', { type: 'button', title: 'follow live', 'data-testid': 'follow-live', class: cursor === null ? 'on' : '', onclick: () => go(last) }, cursor === null ? '● live' : 'go live'),
      h('span', { class: 'where', 'data-testid': 'step-label' },
        i === 0 ? `step 0 of ${last}: initial state ${statePath(step.to)}` : `step ${i} of ${last}: ${step.event.type} at ${time(new Date(step.at).toISOString())} → ${statePath(step.to)}`),
      zoom.controls,
    );
    panels.replaceChildren(
      section('Journal', journal(i)),
      section('Outbox', outbox(t)),
      section(i === last ? 'Context now' : `Context after step ${i}`, json(step.context)),
      section('Armed timers', timers(t)),
      section('Compensation', compensation(t)),
      section('Order and participants', participants()),
    );
  }

  /** Operator actions the machine accepts in needsAttention: retry the stuck step. */
  function operatorActions(t) {
    const result = h('span', { class: 'muted', 'data-testid': 'operator-result' });
    const retry = async () => {
      button.disabled = true;
      result.textContent = 'retrying…';
      const send = (token) => fetch(`/checkouts/${t.checkoutId}/retry`, { method: 'POST', headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
      let res = await send(sessionStorage.getItem('operatorToken'));
      if (res.status === 401) {
        const token = prompt('Operator token');
        if (token) sessionStorage.setItem('operatorToken', token);
        res = await send(token);
      }
      const body = await res.json().catch(() => ({}));
      result.textContent = res.ok ? `retrying: now ${body.state}` : `${body.code || res.status}: ${body.message || 'refused'}`;
      button.disabled = false;
    };
    const button = h('button', { type: 'button', 'data-testid': 'operator-retry', title: 'send the stuck compensation again', onclick: () => void retry() }, 'Retry stuck step');
    return h('span', { class: 'operator' }, button, result);
  }

  function journal(selected) {
    const rows = view.steps.slice(1).map((s, k) =>
      h('tr', { class: [k + 1 === selected ? 'selected' : '', s.differences.length ? 'diverged' : ''].join(' '), 'data-seq': s.seq, onclick: () => go(k + 1) },
        h('td', { class: 'num' }, s.seq),
        h('td', {}, time(new Date(s.at).toISOString())),
        h('td', { title: JSON.stringify(s.event) }, h('code', {}, s.event.type)),
        h('td', {}, statePath(s.from), ' → ', h('strong', {}, statePath(s.to))),
        h('td', {}, s.actions.map((a) => h('div', { title: JSON.stringify(a.params ?? {}) }, a.type))),
        h('td', { title: s.messageId || '' }, s.messageId ? short(s.messageId) : 'timer'),
        h('td', { title: s.causationId || '' }, short(s.causationId)),
      ));
    const note = view.trace.journalTruncated ? h('p', { class: 'warn' }, 'Journal cut at 1,000 events.') : null;
    return [table(['#', 'time', 'event', 'from → to', 'actions', 'message', 'caused by'], rows, { class: 'journal', 'data-testid': 'journal' }), note];
  }

  function timers(t) {
    if (!t.timers.length) return h('p', { class: 'muted' }, 'none armed');
    return table(['timer', 'due', 'in', 'armed at #'], t.timers.map((x) => {
      const ms = Date.parse(x.dueAt) - Date.now();
      return h('tr', {}, h('td', {}, x.name), h('td', {}, time(x.dueAt)), h('td', { class: ms < 0 ? 'warn' : '' }, ms < 0 ? 'due' : `${(ms / 1000).toFixed(1)} s`), h('td', { class: 'num' }, x.armedAtSeq));
    }), { 'data-testid': 'timers' });
  }

  function outbox(t) {
    const pending = t.outbox.filter((o) => o.status === 'pending');
    const rows = [...pending, ...t.outbox.filter((o) => o.status !== 'pending').reverse()].map((o) =>
      h('tr', { class: o.status },
        h('td', {}, h('span', { class: `badge ${o.status}` }, o.status)),
        h('td', { title: JSON.stringify(o.payload) }, o.type || '', h('div', { class: 'muted' }, o.mode === 'kv' ? `kv ${o.subject}` : o.subject)),
        h('td', { class: 'num' }, o.attempts),
        h('td', {}, o.status === 'pending' ? time(o.nextAttemptAt) : time(o.sentAt)),
        h('td', { class: 'muted' }, o.lastError || ''),
      ));
    return [h('p', { class: 'muted' }, `${pending.length} not yet sent, ${t.outbox.length} written in all`),
      table(['status', 'message', 'attempts', 'next / sent', 'last error'], rows, { 'data-testid': 'outbox' })];
  }

  function compensation(t) {
    const c = t.compensation;
    if (!c.registered.length) return h('p', { class: 'muted' }, t.status === 'done' && !c.started ? 'nothing to undo: the saga completed' : 'nothing registered yet');
    return h('ol', { class: 'steps', 'data-testid': 'compensation' }, c.registered.map((s) => {
      const state = c.done.includes(s) ? 'done' : c.started ? 'pending' : 'registered';
      return h('li', { class: state }, h('code', {}, s), ' ', h('span', { class: `badge ${state}` }, state));
    }));
  }

  function participants() {
    return h('ul', { class: 'links', 'data-testid': 'links' },
      h('li', {}, 'Order ', h('a', { href: view.links.order }, `GET ${view.links.order}`)),
      view.participants.map((p) => h('li', {},
        h('a', { href: p.href }, `${p.kind} ${short(p.actorId)}`), ` (${p.service})`,
        p.lastSeen ? h('span', { class: 'muted' }, ` last heard: ${p.lastSeen}`) : null,
        h('div', { class: 'exchange' }, p.exchange.map((x) => h('div', {}, `${time(x.at)} ${x.direction === 'sent' ? '→' : x.direction === 'deadline' ? '! deadline' : '←'} ${x.type}${x.status ? ` (${x.status})` : ''}${x.detail ? ` ${x.detail}` : ''}`))))));
  }

  const events = new EventSource(`/explorer/api/checkouts/${checkoutId}/events`);
  events.addEventListener('view', (e) => {
    view = JSON.parse(e.data);
    // Opened by order id: show the checkout's own address.
    if (view.trace.checkoutId !== checkoutId) history.replaceState(null, '', `/explorer/checkouts/${view.trace.checkoutId}`);
    if (cursor !== null && cursor >= view.steps.length) cursor = null;
    setLive('live', 'live');
    render();
  });
  events.addEventListener('absent', () => {
    setLive('live', 'waiting');
    header.replaceChildren(h('span', { class: 'muted' }, 'No orchestrator holds this checkout (yet). Waiting for it to start…'));
  });
  events.addEventListener('error', (e) => {
    if (e.data) header.append(h('span', { class: 'warn' }, JSON.parse(e.data).message));
  });
  events.onerror = () => setLive('offline', 'reconnecting…');
}

// ---- a participant -----------------------------------------------------------------------------

async function participantView(kind, actorId, checkoutId) {
  const chart = h('div', { class: 'chart', 'data-testid': 'chart' });
  const info = h('div', { class: 'panels' });
  app.replaceChildren(
    h('h1', {}, `${kind} `, h('code', {}, actorId)),
    checkoutId ? h('p', {}, h('a', { href: `/explorer/checkouts/${checkoutId}` }, '← back to the checkout')) : null,
    chart, info);
  await loadChart(kind, chart);
  const p = await api(`/explorer/api/participants/${kind}/${actorId}${checkoutId ? `?checkout=${checkoutId}` : ''}`);
  highlight(chart, p.activeIds, []);
  body.dataset.currentState = p.state || '';
  setLive('static', p.stateSource === 'live' ? `state from ${p.service}` : 'as the saga saw it');
  info.replaceChildren(
    section('State', h('p', {}, p.state ? h('strong', {}, p.state) : 'unknown', ' ',
      h('span', { class: 'muted' }, p.stateSource === 'live' ? `(reported by the ${p.service} service)` : p.stateSource === 'saga' ? '(as the saga last heard it; this service has no query for it)' : ''))),
    p.live ? section(`${p.service} says`, json(p.live)) : null,
    section('Exchange with the saga', p.exchange.length
      ? table(['time', '', 'message', 'status'], p.exchange.map((x) => h('tr', {}, h('td', {}, time(x.at)), h('td', {}, x.direction), h('td', {}, x.type), h('td', {}, x.status || x.detail || ''))))
      : h('p', { class: 'muted' }, checkoutId ? 'none' : 'open this page from a checkout to see its exchange')),
  );
}

function showError(err) {
  app.append(h('p', { class: 'warn', role: 'alert' }, err.message || String(err)));
}

const start = () => {
  const v = body.dataset.view;
  if (v === 'checkout') return checkoutView(body.dataset.checkoutId);
  if (v === 'participant') return participantView(body.dataset.kind, body.dataset.actorId, body.dataset.checkoutId);
  return listView();
};
start().catch(showError);
