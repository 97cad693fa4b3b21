/**
 * The house rules for src/, read off the import graph (static, type-only and dynamic imports alike):
 *  - no circle: every module can be understood from what it imports, never from what imports it;
 *  - developer tools (src/devtools/) stay apart: nothing the services run on reaches one, not even
 *    through a chain of imports. The edges may: the gateway mounts the explorer, and the
 *    composition root (system.ts, and the service threads that run it) loads the Stately bridge
 *    when INSPECT asks for it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'public' ? [] : sourceFiles(path);
    return /\.(ts|mjs)$/.test(e.name) ? [path] : [];
  });
}

/** Module (path relative to the repository) -> the modules of src/ it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(root, resolve(dirname(file), spec)));
    graph.set(relative(root, file), [...new Set(targets)]);
  }
  return graph;
}

/** Every circle, each as the path that closes it (a -> b -> a). */
function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

/** The modules reachable from `from`, each with the chain of imports that reaches it. */
function reachable(graph: Map<string, string[]>, from: string): Map<string, string[]> {
  const chains = new Map<string, string[]>([[from, [from]]]);
  const queue = [from];
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    for (const next of graph.get(node) ?? []) {
      if (chains.has(next)) continue;
      chains.set(next, [...chains.get(node)!, next]);
      queue.push(next);
    }
  }
  return chains;
}

const isDevtool = (path: string) => path.startsWith('src/devtools/');
/** What the services run on: none of these may reach a developer tool. */
const core = (path: string) => /^src\/(actors|contracts|machines|runtime)\//.test(path) || path === 'src/registry.ts' || path === 'src/config.ts';

describe('the import graph of src/', () => {
  const graph = importGraph();

  it('reads every module and resolves every relative import to a file of src/', () => {
    expect(graph.size).toBeGreaterThan(100);
    const dangling = [...graph].flatMap(([from, tos]) => tos.filter((to) => to.startsWith('src/') && !graph.has(to)).map((to) => `${from} -> ${to}`));
    expect(dangling).toEqual([]);
  });

  it('has no circle', () => {
    expect(circles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('finds a circle when there is one (the check itself works)', () => {
    const withCircle = new Map([...graph, ['src/registry.ts', [...(graph.get('src/registry.ts') ?? []), 'src/system.ts']]]);
    expect(circles(withCircle).some((c) => c.includes('src/system.ts') && c.includes('src/registry.ts'))).toBe(true);
  });

  it('keeps developer tools out of reach of the services, the runtime and the machines', () => {
    const leaks = [...graph.keys()]
      .filter(core)
      .flatMap((from) => [...reachable(graph, from)].filter(([to]) => isDevtool(to)).map(([, chain]) => chain.join(' -> ')));
    expect(leaks).toEqual([]);
  });

  it('sees a developer tool when a core module reaches one (the check itself works)', () => {
    const leaky = new Map([...graph, ['src/actors/checkout/service.ts', [...(graph.get('src/actors/checkout/service.ts') ?? []), 'src/devtools/visualize/graph.ts']]]);
    expect([...reachable(leaky, 'src/actors/checkout/service.ts').keys()].some(isDevtool)).toBe(true);
  });
});
