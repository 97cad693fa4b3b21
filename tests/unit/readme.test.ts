/**
 * The README opens with the saga's generated statechart (docs/machines/checkout.svg), and every
 * image and local link it has points at a file that exists, so the first thing a reader sees is
 * never a broken image.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(`${root}/README.md`, 'utf8');

describe('the README', () => {
  it('shows the generated SVG of the checkout saga before anything else but the opening paragraph', () => {
    const firstImage = /!\[[^\]]*\]\(([^)]+)\)/.exec(readme);
    expect(firstImage?.[1]).toBe('docs/machines/checkout.svg');
    expect(readme.indexOf(firstImage![0])).toBeLessThan(readme.indexOf('```'));
    const svg = readFileSync(`${root}/docs/machines/checkout.svg`, 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain('data-machine="checkout"');
  });

  it('embeds no Mermaid diagram (GitHub renders the checkout chart tangled)', () => {
    expect(readme).not.toContain('```mermaid');
  });

  it('points every image and local link at a file that exists', () => {
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t));
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((t) => !existsSync(`${root}/${t}`))).toEqual([]);
  });
});
