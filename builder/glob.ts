/**
 * COPY/ADD source wildcards: Go's filepath.Match per path (`*` and `?` never
 * cross `/`, `[...]` classes, `\` escapes), as BuildKit matches sources.
 */
export function hasWildcard(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}

export function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (c === '[') {
      const end = classEnd(pattern, i);
      if (end < 0) throw new SyntaxError(`syntax error in pattern: ${pattern}`);
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^') || body.startsWith('!');
      if (negate) body = body.slice(1);
      if (body === '') throw new SyntaxError(`syntax error in pattern: ${pattern}`);
      re += `[${negate ? '^/' : ''}${body.replace(/\\(.)/g, (_m, ch: string) => '\\' + ch).replace(/(?<!\\)\//g, '')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$', 'u');
}

function classEnd(p: string, start: number): number {
  for (let i = start + 1; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === ']' && i > start + 1) return i;
  }
  return -1;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
