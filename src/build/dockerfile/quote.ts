// Go's strconv.Quote, which BuildKit's AST dump and error messages use: the
// conformance `result` files compare byte for byte, so printable non-ASCII
// stays literal and everything else gets Go's escape spelling.

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const shortEscapes: Record<string, string> = {
  '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"',
};

export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const short = shortEscapes[ch];
    const cp = ch.codePointAt(0)!;
    if (short !== undefined) out += short;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
    else if (printable.test(ch)) out += ch;
    else if (cp < 0x10000) out += '\\u' + hex(cp, 4);
    else out += '\\U' + hex(cp, 8);
  }
  return out + '"';
}

/** Go's `%q` of a []string: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return '[' + list.map(goQuote).join(' ') + ']';
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}
