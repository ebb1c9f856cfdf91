// The excerpt BuildKit prints above a Dockerfile error (solver/errdefs
// Source.Print): the file and line, then the offending lines marked `>>>`
// with a little context.
//
//   Dockerfile:3
//   --------------------
//      1 |     FROM busybox
//      2 |
//      3 | >>> FOO bar
//   --------------------

export function formatSourceExcerpt(text: string, file: string, line: number, endLine = line): string {
  const lines = text.split('\n');
  if (line < 1 || line > lines.length) return '';
  let start = line;
  let end = Math.min(Math.max(endLine, line), lines.length);
  // Context: four lines around a one-line error, two around a longer one,
  // taken alternately above and below (BuildKit's exact loop).
  const pad = end === start ? 4 : 2;
  for (let p = 0; p < pad; p++) {
    if (start > 1) { start--; p++; }
    if (end !== lines.length) { end++; p++; }
  }
  let out = `${file}:${line}\n--------------------\n`;
  for (let i = start; i <= end; i++) {
    const marker = i >= line && i <= Math.max(endLine, line) ? '>>>' : '   ';
    out += ` ${String(i).padStart(3)} | ${marker} ${lines[i - 1]}\n`;
  }
  return out + '--------------------\n';
}
