// Product illustrations: small inline SVGs drawn from a few shapes, one per SKU of the built-in
// catalogue, and a monogram for any other product (the benchmark's generated catalogue). Built
// with createElementNS, never innerHTML. Decorative: the product's name is its heading, so the
// art is hidden from screen readers.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

const INK = '#1c1917';
const STEEL = '#57534e';
const CREAM = '#fef3c7';

/** Each drawing fills a 160 × 100 box: [shape, attributes] pairs. */
const DRAWINGS = {
  'ACME-ANVIL-01': [
    ['path', { d: 'M30 34h78c6 0 10 4 22 6-6 6-16 8-28 8l-8 10h-6v16h14v8H44v-8h14V58h-6L40 46c-6-2-10-6-10-12Z', fill: INK }],
  ],
  'ACME-ROCKET-SK8': [
    ['rect', { x: 38, y: 40, width: 70, height: 22, rx: 8, fill: '#dc2626' }],
    ['path', { d: 'M108 44h18l8 7-8 7h-18Z', fill: STEEL }],
    ['path', { d: 'M38 45l-22-4 10 10-10 10 22-4Z', fill: '#f59e0b' }],
    ['circle', { cx: 54, cy: 70, r: 8, fill: INK }],
    ['circle', { cx: 92, cy: 70, r: 8, fill: INK }],
  ],
  'ACME-GIANT-MAG': [
    ['path', { d: 'M46 22h22v36a12 12 0 0 0 24 0V22h22v36a34 34 0 0 1-68 0Z', fill: '#dc2626' }],
    ['rect', { x: 46, y: 14, width: 22, height: 12, fill: '#e7e5e4' }],
    ['rect', { x: 92, y: 14, width: 22, height: 12, fill: '#e7e5e4' }],
  ],
  'ACME-BIRDSEED': [
    ['path', { d: 'M52 26h56l6 60H46Z', fill: CREAM, stroke: INK, 'stroke-width': 3 }],
    ['path', { d: 'M52 26l8-8h40l8 8', fill: 'none', stroke: INK, 'stroke-width': 3 }],
    ['text', { x: 80, y: 62, 'text-anchor': 'middle', 'font-size': 14, 'font-weight': 700, fill: INK }, 'SEED'],
    ['circle', { cx: 30, cy: 80, r: 3, fill: '#a16207' }],
    ['circle', { cx: 124, cy: 84, r: 3, fill: '#a16207' }],
    ['circle', { cx: 132, cy: 76, r: 3, fill: '#a16207' }],
  ],
  'ACME-DYNAMITE': [
    ['rect', { x: 50, y: 36, width: 16, height: 50, rx: 3, fill: '#dc2626' }],
    ['rect', { x: 72, y: 36, width: 16, height: 50, rx: 3, fill: '#dc2626' }],
    ['rect', { x: 94, y: 36, width: 16, height: 50, rx: 3, fill: '#dc2626' }],
    ['rect', { x: 46, y: 56, width: 68, height: 8, fill: INK }],
    ['path', { d: 'M80 36c0-12 14-12 16-22', fill: 'none', stroke: INK, 'stroke-width': 3 }],
    ['circle', { cx: 97, cy: 12, r: 5, fill: '#f59e0b' }],
  ],
  'ACME-PAINT-HOLE': [
    ['ellipse', { cx: 80, cy: 58, rx: 54, ry: 22, fill: INK }],
    ['ellipse', { cx: 80, cy: 56, rx: 44, ry: 15, fill: '#000' }],
  ],
  'ACME-SPRING-SHOES': [
    ['path', { d: 'M40 40h44c10 0 16 6 16 12H40Z', fill: '#2563eb' }],
    ['path', { d: 'M50 52l12 6-12 6 12 6-12 6 12 6', fill: 'none', stroke: STEEL, 'stroke-width': 4 }],
    ['path', { d: 'M84 52l12 6-12 6 12 6-12 6 12 6', fill: 'none', stroke: STEEL, 'stroke-width': 4 }],
  ],
  'ACME-BATMAN-SUIT': [
    ['path', { d: 'M80 30c6 0 8-6 8-10 4 6 6 10 6 14 10-8 30-10 50-4-10 4-14 12-12 22-10-6-20-4-26 6-6-6-14-8-26-8s-20 2-26 8c-6-10-16-12-26-6 2-10-2-18-12-22 20-6 40-4 50 4 0-4 2-8 6-14 0 4 2 10 8 10Z', fill: INK }],
  ],
};

const initials = (name) =>
  name
    .split(/\s+/)
    .filter((w) => /^[A-Za-z]/.test(w))
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join('');

/** The illustration of a product: its drawing, or its monogram. */
export function productArt(product) {
  const drawing = DRAWINGS[product.sku];
  const shapes = drawing
    ? drawing.map(([tag, attrs, text]) => svg(tag, attrs, ...(text ? [text] : [])))
    : [svg('text', { x: 80, y: 64, 'text-anchor': 'middle', 'font-size': 40, 'font-weight': 800, fill: '#fff' }, initials(product.name))];
  return svg('svg', { viewBox: '0 0 160 100', class: 'product__drawing', 'aria-hidden': 'true', focusable: 'false' }, ...shapes);
}
