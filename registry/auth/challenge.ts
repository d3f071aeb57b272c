/** WWW-Authenticate parsing (RFC 7235 auth-params, as registries send them). */

export interface Challenge {
  scheme: 'basic' | 'bearer' | string;
  params: Record<string, string>;
}

/**
 * Parses `Bearer realm="https://auth",service="registry",scope="a b"` and
 * friends. Several challenges in one header are split on the scheme tokens.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  let cur: Challenge | undefined;
  const n = text.length;
  const skipWs = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
  };
  while (i < n) {
    skipWs();
    const m = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)/.exec(text.slice(i));
    if (!m) break;
    const tok = m[1]!;
    i += tok.length;
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (text[i] === '=') {
      // auth-param of the current challenge
      i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const v = /^[^,\s]*/.exec(text.slice(i))![0];
        value = v;
        i += v.length;
      }
      if (cur) cur.params[tok.toLowerCase()] = value;
    } else {
      cur = { scheme: tok.toLowerCase(), params: {} };
      out.push(cur);
    }
  }
  return out;
}
