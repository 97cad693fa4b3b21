/**
 * NATS subject matching, shared by the in-process transport (routing, stream capture, consumer filters)
 * and both KV watch implementations. `*` matches exactly one token, `>` one or more trailing tokens.
 */

/** True if `subject` (a literal subject) matches `pattern` (which may hold `*` and `>`). */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const tok = p[i];
    if (tok === '>') return s.length > i;
    if (i >= s.length) return false;
    if (tok !== '*' && tok !== s[i]) return false;
  }
  return p.length === s.length;
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
