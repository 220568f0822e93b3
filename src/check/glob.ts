/**
 * Glob patterns for rule fields that name identities and paths: `*` matches within one path
 * segment (not `/`), `**` matches across segments, `?` one character; everything else is
 * literal. Compiled to an anchored RegExp; never user text inside a RegExp unescaped.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          re += '(?:.*/)?'; // `**/` also matches no directory at all
          i++;
        } else re += '.*';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** Whether a glob has any wildcard (else it is compared as plain text). */
export function isGlob(text: string): boolean {
  return /[*?]/.test(text);
}

export function globMatcher(glob: string): (s: string) => boolean {
  if (!isGlob(glob)) return (s) => s === glob;
  const re = globToRegExp(glob);
  return (s) => re.test(s);
}
