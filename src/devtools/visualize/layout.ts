/**
 * Lays out a whole statechart: every compound state is laid out as a layered graph of its
 * children (`layers.ts`), innermost first, then everything is placed absolutely and each
 * transition is routed from its real source box, through the bends its level chose, to its real
 * target box. Transitions with the same source and target share one line and one label.
 *
 * A transition that stays in its state (targetless), re-enters it, or targets one of its own
 * ancestors is drawn as a loop on the state's right side, labelled there: ranking it would mean
 * nothing. Text is measured for a monospace font, so widths are exact without a browser.
 */
import { transitionLabel, type MachineGraph, type StateInfo, type TransitionInfo } from './graph.ts';
import { layoutLevel, type LevelEdge, type LevelNode } from './layers.ts';

export const Metrics = {
  charW: 7.2, // 12px monospace
  stateH: 32,
  statePadX: 14,
  labelCharW: 6.6, // 11px monospace
  labelLineH: 14,
  compoundPad: 14,
  headerH: 26,
  initSize: 10,
  loopW: 18,
  margin: 12,
} as const;

export interface Pt {
  x: number;
  y: number;
}

export interface StateBox {
  id: string;
  key: string;
  type: StateInfo['type'];
  x: number;
  y: number;
  w: number;
  h: number;
  compound: boolean;
  depth: number;
}

export interface EdgeRoute {
  id: string;
  source: string;
  target: string | undefined;
  transitions: TransitionInfo[];
  lines: string[];
  points: Pt[];
  label: { x: number; y: number; w: number; h: number };
  loop: boolean;
}

export interface InitialMarker {
  compound: string;
  dot: Pt;
  points: Pt[];
}

export interface MachineLayout {
  width: number;
  height: number;
  states: StateBox[];
  edges: EdgeRoute[];
  initials: InitialMarker[];
}

interface Group {
  id: string;
  source: string;
  target: string | undefined;
  transitions: TransitionInfo[];
  lines: string[];
  loop: boolean;
}

interface Level {
  state: StateInfo;
  w: number;
  h: number;
  offsetX: number;
  placed: ReturnType<typeof layoutLevel>;
}

const textW = (s: string, charW: number) => s.length * charW;

export function layoutMachine(graph: MachineGraph): MachineLayout {
  const byId = new Map(graph.states.map((s) => [s.id, s]));
  const chain = ancestry(graph);
  const groups = groupTransitions(graph, chain, byId);
  const labelSize = (g: Group) => ({
    w: Math.max(...g.lines.map((l) => textW(l, Metrics.labelCharW))) + 4,
    h: g.lines.length * Metrics.labelLineH,
  });

  // Which level each non-loop group is ranked in, and between which two children of that level.
  const levelEdges = new Map<string, LevelEdge[]>();
  for (const g of groups) {
    if (g.loop || g.target === undefined) continue;
    const a = chain(g.source);
    const b = chain(g.target);
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    const level = a[i - 1]!;
    levelEdges.set(level, [...(levelEdges.get(level) ?? []), { id: g.id, from: a[i]!, to: b[i]!, label: labelSize(g) }]);
  }
  const loopsOf = new Map<string, Group[]>();
  for (const g of groups) if (g.loop) loopsOf.set(g.source, [...(loopsOf.get(g.source) ?? []), g]);

  const atomicSize = (s: StateInfo) => ({ w: textW(s.key, Metrics.charW) + 2 * Metrics.statePadX, h: Metrics.stateH });
  const loopExtra = (id: string) => {
    const loops = loopsOf.get(id) ?? [];
    if (loops.length === 0) return { w: 0, h: 0 };
    const sizes = loops.map(labelSize);
    return { w: Metrics.loopW + 4 + Math.max(...sizes.map((s) => s.w)), h: sizes.reduce((t, s) => t + s.h, 0) };
  };

  const levels = new Map<string, Level>();
  const sizeOf = (s: StateInfo): { w: number; h: number } => {
    if (s.children.length === 0) return atomicSize(s);
    const nodes: LevelNode[] = s.children.map((c) => {
      const child = byId.get(c)!;
      const size = sizeOf(child);
      const extra = loopExtra(c);
      return { id: c, w: size.w + extra.w, h: Math.max(size.h, extra.h) };
    });
    const edges = [...(levelEdges.get(s.id) ?? [])];
    const init = `${s.id}#init`;
    if (s.initial) {
      nodes.unshift({ id: init, w: Metrics.initSize, h: Metrics.initSize });
      edges.unshift({ id: init, from: init, to: s.initial, label: undefined });
    }
    const placed = layoutLevel(nodes, edges, s.initial ? init : undefined);
    const header = textW(s.key, Metrics.charW) + 2 * Metrics.compoundPad;
    const w = Math.max(placed.width + 2 * Metrics.compoundPad, header);
    const level = { state: s, w, h: Metrics.headerH + placed.height + Metrics.compoundPad, offsetX: (w - placed.width) / 2, placed };
    levels.set(s.id, level);
    return { w: level.w, h: level.h };
  };
  const root = byId.get(graph.root)!;
  const rootSize = sizeOf(root);

  // Absolute placement, outside in.
  const boxes = new Map<string, StateBox>();
  const origins = new Map<string, Pt>();
  const place = (s: StateInfo, x: number, y: number): void => {
    const size = s.children.length ? { w: levels.get(s.id)!.w, h: levels.get(s.id)!.h } : atomicSize(s);
    boxes.set(s.id, { id: s.id, key: s.key, type: s.type, x, y, w: size.w, h: size.h, compound: s.children.length > 0, depth: s.depth });
    const level = levels.get(s.id);
    if (!level) return;
    const origin = { x: x + level.offsetX, y: y + Metrics.headerH };
    origins.set(s.id, origin);
    for (const c of s.children) {
      const p = level.placed.nodes.get(c)!;
      const child = byId.get(c)!;
      const own = child.children.length ? { h: levels.get(c)!.h } : atomicSize(child);
      place(child, origin.x + p.x, origin.y + p.y + (p.h - own.h) / 2);
    }
  };
  place(root, Metrics.margin, Metrics.margin);

  const edges: EdgeRoute[] = [];
  const initials: InitialMarker[] = [];
  const anchors = new AnchorSpreader();
  const pending: Array<{ route: EdgeRoute; bends: Pt[] }> = [];
  for (const [levelId, level] of levels) {
    const origin = origins.get(levelId)!;
    const abs = (p: Pt) => ({ x: origin.x + p.x, y: origin.y + p.y });
    for (const e of levelEdges.get(levelId) ?? []) {
      const g = groups.find((x) => x.id === e.id)!;
      const bends = (level.placed.bends.get(e.id) ?? []).map(abs);
      const at = abs(level.placed.labels.get(e.id) ?? { x: 0, y: 0 });
      const size = labelSize(g);
      const route: EdgeRoute = { ...g, points: [], label: { x: at.x, y: at.y, ...size } };
      pending.push({ route, bends });
      anchors.claim(boxes.get(g.source)!, route, 'out', bends[0] ?? center(boxes.get(g.target!)!));
      anchors.claim(boxes.get(g.target!)!, route, 'in', bends[bends.length - 1] ?? center(boxes.get(g.source)!));
    }
    if (level.state.initial) {
      const dot = level.placed.nodes.get(`${levelId}#init`)!;
      const d = abs({ x: dot.x + dot.w / 2, y: dot.y + dot.h / 2 });
      const bends = (level.placed.bends.get(`${levelId}#init`) ?? []).map(abs);
      const target = boxes.get(level.state.initial)!;
      initials.push({ compound: levelId, dot: d, points: [d, ...bends, { x: target.x + target.w / 2, y: target.y }] });
    }
  }
  for (const { route, bends } of pending) {
    route.points = [anchors.point(route, 'out'), ...bends, anchors.point(route, 'in')];
    edges.push(route);
  }
  for (const [id, loops] of loopsOf) {
    const box = boxes.get(id)!;
    let y = box.y + box.h / 2 - loops.map(labelSize).reduce((t, s) => t + s.h, 0) / 2;
    for (const g of loops) {
      const size = labelSize(g);
      const right = box.x + box.w;
      const cy = Math.min(Math.max(y + size.h / 2, box.y + 8), box.y + box.h - 8);
      const points = [
        { x: right, y: cy - 5 },
        { x: right + Metrics.loopW, y: cy },
        { x: right, y: cy + 5 },
      ];
      edges.push({ ...g, points, label: { x: right + Metrics.loopW + 4, y, ...size } });
      y += size.h;
    }
  }
  edges.sort((a, b) => a.id.localeCompare(b.id));
  const width = rootSize.w + 2 * Metrics.margin;
  const height = rootSize.h + 2 * Metrics.margin;
  return { width, height, states: [...boxes.values()], edges, initials };
}

/** Ancestors of a state, root first, ending with the state itself. */
function ancestry(graph: MachineGraph): (id: string) => string[] {
  const parent = new Map(graph.states.map((s) => [s.id, s.parent]));
  return (id) => {
    const out: string[] = [];
    for (let s: string | undefined = id; s !== undefined; s = parent.get(s)) out.unshift(s);
    return out;
  };
}

const isLoop = (t: TransitionInfo, chain: (id: string) => string[]) =>
  t.target === undefined || t.target === t.source || chain(t.source).includes(t.target) || chain(t.target).includes(t.source);

/**
 * The id of the drawn line (`data-edge-id`) that carries a transition: one line per source and
 * target, one loop per state.
 */
export function edgeIdOf(graph: MachineGraph): (t: TransitionInfo) => string {
  const chain = ancestry(graph);
  return (t) => (isLoop(t, chain) ? `${t.source}->(loop)` : `${t.source}->${t.target}`);
}

function groupTransitions(graph: MachineGraph, chain: (id: string) => string[], byId: ReadonlyMap<string, StateInfo>): Group[] {
  const groups = new Map<string, Group>();
  const edgeId = edgeIdOf(graph);
  for (const t of graph.transitions) {
    const target = t.target;
    const loop = isLoop(t, chain);
    const id = edgeId(t);
    const g = groups.get(id) ?? { id, source: t.source, target: loop ? undefined : target, transitions: [], lines: [], loop };
    const to = loop && target !== undefined && target !== t.source ? ` → ${byId.get(target)?.key ?? target}` : '';
    g.transitions.push(t);
    g.lines.push(`${transitionLabel(t)}${to}`);
    groups.set(id, g);
  }
  return [...groups.values()];
}

const center = (b: StateBox): Pt => ({ x: b.x + b.w / 2, y: b.y + b.h / 2 });

/** Spreads the ends of edges that meet one side of a box along that side, in the order they arrive. */
class AnchorSpreader {
  private readonly sides = new Map<string, Array<{ route: EdgeRoute; end: 'in' | 'out'; toward: Pt }>>();
  private readonly where = new Map<string, { box: StateBox; side: 'top' | 'bottom' }>();

  claim(box: StateBox, route: EdgeRoute, end: 'in' | 'out', toward: Pt): void {
    const side = toward.y < box.y + box.h / 2 ? 'top' : 'bottom';
    const key = `${box.id}|${side}`;
    this.sides.set(key, [...(this.sides.get(key) ?? []), { route, end, toward }]);
    this.where.set(`${route.id}|${end}`, { box, side });
  }

  point(route: EdgeRoute, end: 'in' | 'out'): Pt {
    const w = this.where.get(`${route.id}|${end}`)!;
    const list = [...(this.sides.get(`${w.box.id}|${w.side}`) ?? [])].sort((a, b) => a.toward.x - b.toward.x || a.route.id.localeCompare(b.route.id));
    const i = list.findIndex((e) => e.route === route && e.end === end);
    const span = Math.min(w.box.w * 0.6, list.length * 16);
    const x = w.box.x + w.box.w / 2 - span / 2 + (span * (i + 0.5)) / list.length;
    return { x, y: w.side === 'top' ? w.box.y : w.box.y + w.box.h };
  }
}
