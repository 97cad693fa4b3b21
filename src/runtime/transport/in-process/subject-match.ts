/**
 * NATS subject matching, shared by the in-process transport (routing, stream capture, consumer filters)
 * and both KV watch implementations. `*` matches exactly one token, `>` one or more trailing tokens.
 */

/**
 * True if `subject` (a literal subject) matches `pattern` (which may hold `*` and `>`). It walks both
 * strings token by token without splitting them: the in-process transport matches every message
 * against every subscription and stream, and the split arrays were 1.7% of the embedded CPU.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const pl = pattern.length;
  const sl = subject.length;
  let pi = 0;
  let si = 0;
  for (;;) {
    const pe = tokenEnd(pattern, pi);
    const one = pe - pi === 1;
    if (one && pattern.charCodeAt(pi) === GT) return si < sl; // one or more tokens left
    if (si >= sl) return false; // the pattern has a token the subject lacks
    const se = tokenEnd(subject, si);
    if (!(one && pattern.charCodeAt(pi) === STAR) && !sameToken(pattern, pi, pe, subject, si, se)) return false;
    pi = pe + 1;
    si = se + 1;
    if (pi > pl) return si > sl; // the pattern is done: so must the subject be
  }
}

const GT = 62; // '>'
const STAR = 42; // '*'

function tokenEnd(s: string, from: number): number {
  const dot = s.indexOf('.', from);
  return dot < 0 ? s.length : dot;
}

function sameToken(a: string, ai: number, ae: number, b: string, bi: number, be: number): boolean {
  if (ae - ai !== be - bi) return false;
  for (let k = 0; k < ae - ai; k++) if (a.charCodeAt(ai + k) !== b.charCodeAt(bi + k)) return false;
  return true;
}

/** Throws unless `subject` is a literal subject: non-empty tokens, no wildcards, no whitespace. */
export function assertLiteralSubject(subject: string): void {
  if (!isValidSubject(subject) || subject.split('.').some((t) => t === '*' || t === '>')) {
    throw new Error(
      `invalid subject "${subject}": expected non-empty dot-separated tokens without wildcards`,
    );
  }
}

/** Throws unless `pattern` is a valid subscription subject (`>` only as the last token). */
export function assertPattern(pattern: string): void {
  const toks = pattern.split('.');
  if (!isValidSubject(pattern) || toks.slice(0, -1).includes('>')) {
    throw new Error(`invalid subject pattern "${pattern}"`);
  }
}

function isValidSubject(subject: string): boolean {
  return subject.length > 0 && !/\s/.test(subject) && subject.split('.').every((t) => t.length > 0);
}
