// Go's unicode.IsSpace and friends. BuildKit trims and splits with these, and
// they differ from JavaScript's \s (Go counts U+0085, JS counts U+FEFF).

const goSpace = /^[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const goLetter = /^\p{L}$/u;
const goDigit = /^\p{Nd}$/u;

export function isSpace(ch: string): boolean {
  return goSpace.test(ch);
}

export function isLetter(ch: string): boolean {
  return goLetter.test(ch);
}

export function isDigit(ch: string): boolean {
  return goDigit.test(ch);
}

/** strings.TrimLeftFunc(s, unicode.IsSpace) */
export function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  return s.slice(i);
}

/** strings.TrimSpace */
export function trimSpace(s: string): string {
  let end = s.length;
  while (end > 0 && isSpace(s[end - 1])) end--;
  return trimLeftSpace(s.slice(0, end));
}
