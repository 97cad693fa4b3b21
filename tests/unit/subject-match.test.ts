/**
 * NATS subject matching as the in-process transport and the KV watchers use it, checked case by
 * case and against the plain token-splitting definition over generated subjects and patterns.
 */
import { describe, expect, it } from 'vitest';
import { subjectMatches } from '../../src/runtime/transport/in-process/subject-match.ts';

/** The definition: `*` is exactly one token, `>` one or more trailing tokens. */
function byTokens(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

describe('subjectMatches', () => {
  it.each([
    ['ordering.evt.order-created', 'ordering.evt.order-created', true],
    ['ordering.evt.>', 'ordering.evt.order-created', true],
    ['ordering.evt.>', 'ordering.evt', false],
    ['ordering.>', 'ordering.evt.order-created', true],
    ['>', 'a', true],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['a.*', 'a', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.cd', false],
    ['a.b', 'a.bc', false],
    ['a.bc', 'a.b', false],
    ['a.b.c', 'a.b', false],
    ['a.b', 'a.b.c', false],
    ['checkout.qry.trace.*', 'checkout.qry.trace.i-1', true],
  ])('%s against %s is %s', (pattern, subject, want) => {
    expect(subjectMatches(pattern, subject)).toBe(want);
    expect(byTokens(pattern, subject)).toBe(want);
  });

  it('agrees with the token definition on generated subjects and patterns', () => {
    const tokens = ['a', 'b', 'ab', 'ba', 'order-created'];
    let seed = 7;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 20_000; i++) {
      const subject = Array.from({ length: 1 + next(4) }, () => tokens[next(tokens.length)]!).join('.');
      const pattern = Array.from({ length: 1 + next(4) }, () => (next(4) === 0 ? '*' : tokens[next(tokens.length)]!));
      if (next(3) === 0) pattern[pattern.length - 1] = '>';
      const p = pattern.join('.');
      expect(subjectMatches(p, subject), `${p} vs ${subject}`).toBe(byTokens(p, subject));
    }
  });
});
