/** WWW-Authenticate parsing (RFC 7235): one or more challenges "Scheme k=v, k="v", ...". */
export interface Challenge {
  scheme: string; // lower-case
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = () => {
    while (i < n && /[\s,]/.test(text[i])) i++;
  };
  const token = () => {
    const s = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(text[i])) i++;
    return text.slice(s, i);
  };
  while (i < n) {
    skipWs();
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      while (i < n && /[\s]/.test(text[i])) i++;
      const save = i;
      if (text[i] === ',') {
        i++;
        while (i < n && /\s/.test(text[i])) i++;
      }
      const k = token();
      while (i < n && /\s/.test(text[i])) i++;
      if (!k || text[i] !== '=') {
        i = save; // next challenge starts here
        break;
      }
      i++;
      while (i < n && /\s/.test(text[i])) i++;
      let v = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          v += text[i++];
        }
        i++;
      } else {
        const s = i;
        while (i < n && text[i] !== ',' && !/\s/.test(text[i])) i++;
        v = text.slice(s, i);
      }
      ch.params[k.toLowerCase()] = v;
    }
  }
  return out;
}
