/**
 * A machine as a self-contained SVG: no fonts, scripts or links to fetch, so it renders the same
 * in a README, a browser offline, or the explorer. Every state is a `<g data-state-id="…">` and
 * every transition line a `<g data-edge-id="…">`, which is how the explorer highlights the current
 * state and the last transition: it toggles the `sc-active` / `sc-taken` classes.
 */
import { refLabel, type MachineGraph, type NamedRef } from './graph.ts';
import { layoutMachine, type EdgeRoute, type Pt, type StateBox } from './layout.ts';

const STYLE = `
.sc-box{fill:#fff;stroke:#64748b;stroke-width:1.2}
.sc-compound>.sc-box{fill:#f8fafc}
.sc-root>.sc-box{fill:#fff;stroke:#cbd5e1}
.sc-final-inner{fill:none;stroke:#64748b;stroke-width:1}
.sc-name{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;fill:#0f172a}
.sc-compound>.sc-name{font-weight:600}
.sc-edge path{fill:none;stroke:#64748b;stroke-width:1.2}
.sc-always path{stroke-dasharray:5 3}
.sc-label{font:11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;fill:#334155}
.sc-label-bg{fill:#fff;fill-opacity:.85}
.sc-init{fill:#0f172a}
.sc-init-line{fill:none;stroke:#0f172a;stroke-width:1.2}
.sc-active>.sc-box{fill:#dbeafe;stroke:#1d4ed8;stroke-width:2.5}
.sc-compound.sc-active>.sc-box{fill:#eff6ff}
.sc-taken path{stroke:#1d4ed8;stroke-width:2.5}
.sc-taken .sc-label{fill:#1d4ed8;font-weight:700}
`.trim();

const r = (n: number) => Math.round(n * 10) / 10;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const refs = (rs: readonly NamedRef[]) => rs.map(refLabel).join(', ');

/** Renders the machine; `title` defaults to the machine id. */
export function toSvg(graph: MachineGraph, title = graph.id): string {
  const layout = layoutMachine(graph);
  const info = new Map(graph.states.map((s) => [s.id, s]));
  const marker = `sc-arrow-${graph.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="statechart" data-machine="${esc(graph.id)}" viewBox="0 0 ${r(layout.width)} ${r(layout.height)}" width="${r(layout.width)}" height="${r(layout.height)}" role="img" aria-label="${esc(title)} statechart">`,
    `<title>${esc(title)}</title>`,
    `<style>${STYLE}</style>`,
    `<defs><marker id="${marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#64748b"/></marker></defs>`,
  );

  out.push('<g class="sc-states">');
  for (const box of [...layout.states].sort((a, b) => a.depth - b.depth)) out.push(stateSvg(box, info.get(box.id), graph.root));
  out.push('</g>');

  out.push('<g class="sc-initials">');
  for (const i of layout.initials) {
    out.push(
      `<g class="sc-initial" data-initial-of="${esc(i.compound)}"><circle class="sc-init" cx="${r(i.dot.x)}" cy="${r(i.dot.y)}" r="4.5"/><path class="sc-init-line" d="${pathD(i.points)}" marker-end="url(#${marker})"/></g>`,
    );
  }
  out.push('</g>');

  out.push('<g class="sc-edges">');
  for (const e of layout.edges) out.push(edgeSvg(e, marker));
  out.push('</g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function stateSvg(box: StateBox, s: { entry: NamedRef[]; exit: NamedRef[]; description: string | undefined } | undefined, root: string): string {
  const classes = ['sc-state', box.compound ? 'sc-compound' : 'sc-atomic', `sc-${box.type}`];
  if (box.id === root) classes.push('sc-root');
  const tip = [
    box.id,
    s?.description,
    s?.entry.length ? `entry: ${refs(s.entry)}` : undefined,
    s?.exit.length ? `exit: ${refs(s.exit)}` : undefined,
  ].filter(Boolean);
  const radius = box.compound ? 8 : 16;
  const parts = [
    `<g class="${classes.join(' ')}" data-state-id="${esc(box.id)}">`,
    `<title>${esc(tip.join('\n'))}</title>`,
    `<rect class="sc-box" x="${r(box.x)}" y="${r(box.y)}" width="${r(box.w)}" height="${r(box.h)}" rx="${radius}"/>`,
  ];
  if (box.type === 'final') {
    parts.push(`<rect class="sc-final-inner" x="${r(box.x + 3)}" y="${r(box.y + 3)}" width="${r(box.w - 6)}" height="${r(box.h - 6)}" rx="${radius - 3}"/>`);
  }
  const tx = box.compound ? box.x + 10 : box.x + box.w / 2;
  const ty = box.compound ? box.y + 17 : box.y + box.h / 2 + 4;
  parts.push(`<text class="sc-name" x="${r(tx)}" y="${r(ty)}"${box.compound ? '' : ' text-anchor="middle"'}>${esc(box.key)}</text>`, '</g>');
  return parts.join('');
}

function edgeSvg(e: EdgeRoute, marker: string): string {
  const always = e.transitions.every((t) => t.event === undefined);
  const events = [...new Set(e.transitions.map((t) => t.event ?? 'always'))].join(' ');
  const tip = e.transitions
    .map((t) => `${t.event ?? 'always'}${t.actions.length ? ` / ${refs(t.actions)}` : ''}`)
    .join('\n');
  const d = e.loop
    ? `M${r(e.points[0]!.x)},${r(e.points[0]!.y)}C${r(e.points[1]!.x)},${r(e.points[0]!.y - 10)} ${r(e.points[1]!.x)},${r(e.points[2]!.y + 10)} ${r(e.points[2]!.x)},${r(e.points[2]!.y)}`
    : pathD(e.points);
  const lines = e.lines
    .map((l, i) => `<tspan x="${r(e.label.x + 2)}" y="${r(e.label.y + 11 + i * 14)}">${esc(l)}</tspan>`)
    .join('');
  return [
    `<g class="sc-edge${always ? ' sc-always' : ''}${e.loop ? ' sc-loop' : ''}" data-edge-id="${esc(e.id)}" data-source="${esc(e.source)}" data-target="${esc(e.target ?? e.source)}" data-events="${esc(events)}">`,
    `<title>${esc(tip)}</title>`,
    `<path d="${d}" marker-end="url(#${marker})"/>`,
    `<rect class="sc-label-bg" x="${r(e.label.x)}" y="${r(e.label.y)}" width="${r(e.label.w)}" height="${r(e.label.h)}"/>`,
    `<text class="sc-label">${lines}</text>`,
    '</g>',
  ].join('');
}

/** A smooth path through the points: cubic segments with vertical tangents, as layered graphs read. */
function pathD(points: readonly Pt[]): string {
  const [first, ...rest] = points;
  if (!first) return '';
  let d = `M${r(first.x)},${r(first.y)}`;
  let prev = first;
  for (const p of rest) {
    const dy = (p.y - prev.y) / 2;
    d += `C${r(prev.x)},${r(prev.y + dy)} ${r(p.x)},${r(p.y - dy)} ${r(p.x)},${r(p.y)}`;
    prev = p;
  }
  return d;
}
