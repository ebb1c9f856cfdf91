// docker's formatter conventions: `table …` formats get a header row and go
// through Go's text/tabwriter (minwidth 10, tabwidth 1, padding 3, spaces);
// `json` prints each row as JSON; anything else is one template per row.
import { parseTemplate, TemplateError } from './template.ts';
import { CliError } from '../context.ts';

const MIN_WIDTH = 10;
const PADDING = 3;

/** Go's text/tabwriter: tab-terminated cells aligned in column blocks. */
export function tabwrite(text: string, minWidth = MIN_WIDTH, padding = PADDING): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const width = (s: string) => [...s].length;
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i];
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        if (j < widths.length && j < cells.length - 1) s += ' '.repeat(Math.max(0, widths[j] - width(c)));
      });
      out.push(s);
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur].length - 1) continue;
      writeLines(line0, cur);
      line0 = cur;
      let w = minWidth;
      for (; cur < line1 && column < lines[cur].length - 1; cur++) {
        w = Math.max(w, width(lines[cur][column]) + padding);
      }
      widths.push(w);
      format(line0, cur);
      widths.pop();
      line0 = cur;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}

export interface FormatOptions {
  /** Field name → column header, e.g. { ID: 'CONTAINER ID' }. */
  headers: Record<string, string>;
}

function unescape(format: string): string {
  return format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

function compile(format: string) {
  try {
    return parseTemplate(format);
  } catch (err) {
    throw new CliError(`template parsing error: ${(err as Error).message}`, 1);
  }
}

function run(tpl: ReturnType<typeof parseTemplate>, data: unknown): string {
  try {
    return tpl.execute(data);
  } catch (err) {
    if (err instanceof TemplateError) throw new CliError(err.message, 1);
    throw err;
  }
}

/** Renders rows the way the docker CLI renders `ps`, `images`, … output. */
export function formatRows(format: string, rows: Record<string, unknown>[], o: FormatOptions): string {
  if (format === 'json') {
    // `{{json .}}`: Go marshals the row's map, keys sorted, HTML-escaped as json.Marshal does (`->` is `-\u003e`).
    return rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v !== 'function').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))
      .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') + '\n').join('');
  }
  if (format.startsWith('table')) {
    const body = unescape(format.slice('table'.length).replace(/^\s/, ''));
    const tpl = compile(body);
    const header: Record<string, unknown> = {};
    for (const k of new Set([...Object.keys(o.headers), ...Object.keys(rows[0] ?? {})])) {
      const title = o.headers[k] ?? k.toUpperCase();
      header[k] = rows[0] && typeof rows[0][k] === 'function' ? () => title : title;
    }
    const text = [run(tpl, header), ...rows.map((r) => run(tpl, r))].join('\n') + '\n';
    return tabwrite(text);
  }
  const tpl = compile(unescape(format));
  return rows.map((r) => run(tpl, r) + '\n').join('');
}
