// Go's text/tabwriter (elastic tabstops), as forked by the docker CLI: the
// only change there is that a cell's width is its display width on a terminal
// (go-runewidth: East Asian wide characters count 2, combining marks 0)
// rather than its number of runes.
//
// Cells are terminated by '\t' (or '\v'); '\n' and '\f' end a line. Cells
// terminated by a tab in contiguous lines form a column; the last cell of a
// line (text before the newline) never takes part in alignment and is never
// padded. A line with a single cell ends every column block.

export const TabWriterFlags = {
  /** Not supported by this port (HTML filtering); accepted and ignored. */
  FilterHTML: 1,
  /** Not supported by this port (escape sequences); accepted and ignored. */
  StripEscape: 2,
  AlignRight: 4,
  DiscardEmptyColumns: 8,
  TabIndent: 16,
  Debug: 32,
} as const;

export interface TabWriterOptions {
  minWidth: number;
  tabWidth: number;
  padding: number;
  padChar: string;
  flags: number;
  /** How wide a cell's text is: 'display' (docker's fork, the default) or 'runes' (Go's text/tabwriter). */
  widthMode?: 'display' | 'runes';
}

/** The writer docker's formatter uses for `table` formats: NewWriter(out, 10, 1, 3, ' ', 0). */
export const DOCKER_TABWRITER: TabWriterOptions = { minWidth: 10, tabWidth: 1, padding: 3, padChar: ' ', flags: 0 };

interface Cell {
  text: string;
  width: number;
  htab: boolean;
}

// ------------------------------------------------------------ display width

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\u200b\u1160-\u11ff\ud7b0-\ud7ff]$/u;
const EMOJI_WIDE = /^\p{Emoji_Presentation}$/u;

// East Asian Wide (W) and Fullwidth (F) ranges.
const WIDE: readonly [number, number][] = [
  [0x1100, 0x115f], [0x231a, 0x231b], [0x2329, 0x232a], [0x23e9, 0x23ec], [0x23f0, 0x23f0], [0x23f3, 0x23f3],
  [0x25fd, 0x25fe], [0x2614, 0x2615], [0x2648, 0x2653], [0x267f, 0x267f], [0x2693, 0x2693], [0x26a1, 0x26a1],
  [0x26aa, 0x26ab], [0x26bd, 0x26be], [0x26c4, 0x26c5], [0x26ce, 0x26ce], [0x26d4, 0x26d4], [0x26ea, 0x26ea],
  [0x26f2, 0x26f3], [0x26f5, 0x26f5], [0x26fa, 0x26fa], [0x26fd, 0x26fd], [0x2705, 0x2705], [0x270a, 0x270b],
  [0x2728, 0x2728], [0x274c, 0x274c], [0x274e, 0x274e], [0x2753, 0x2755], [0x2757, 0x2757], [0x2795, 0x2797],
  [0x27b0, 0x27b0], [0x27bf, 0x27bf], [0x2b1b, 0x2b1c], [0x2b50, 0x2b50], [0x2b55, 0x2b55], [0x2e80, 0x303e],
  [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xa960, 0xa97f], [0xac00, 0xd7a3],
  [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe6f], [0xff00, 0xff60], [0xffe0, 0xffe6], [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff], [0x1b000, 0x1b2ff], [0x1f004, 0x1f004], [0x1f0cf, 0x1f0cf], [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a], [0x1f200, 0x1f251], [0x1f300, 0x1f64f], [0x1f680, 0x1f6ff], [0x1f900, 0x1f9ff],
  [0x1fa70, 0x1faff], [0x20000, 0x2fffd], [0x30000, 0x3fffd],
];

function runeWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (cp < 0x300) return 1;
  const ch = String.fromCodePoint(cp);
  if (ZERO_WIDTH.test(ch)) return 0;
  for (const [lo, hi] of WIDE) {
    if (cp < lo) break;
    if (cp <= hi) return EMOJI_WIDE.test(ch) || cp < 0x1f000 || cp >= 0x20000 || isWideSymbol(cp) ? 2 : 1;
  }
  return EMOJI_WIDE.test(ch) ? 2 : 1;
}

function isWideSymbol(cp: number): boolean {
  return (cp >= 0x1f004 && cp <= 0x1f251) || (cp >= 0x1f900 && cp <= 0x1faff);
}

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** go-runewidth StringWidth: per grapheme cluster, the width of its first non-zero-width rune. */
export function displayWidth(s: string): number {
  // Fast path: printable ASCII.
  if (/^[\x20-\x7e]*$/.test(s)) return s.length;
  let width = 0;
  for (const { segment } of segmenter.segment(s)) {
    let w = 0;
    for (const ch of segment) {
      w = runeWidth(ch.codePointAt(0) as number);
      if (w > 0) break;
    }
    width += w;
  }
  return width;
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// ------------------------------------------------------------ writer

export class TabWriter {
  private readonly minWidth: number;
  private readonly tabWidth: number;
  private readonly padding: number;
  private readonly padChar: string;
  private readonly flags: number;
  private readonly measure: (s: string) => number;

  private lines: Cell[][] = [[]];
  private cell = '';
  private widths: number[] = [];
  private out = '';

  constructor(opts: TabWriterOptions = DOCKER_TABWRITER) {
    if (opts.minWidth < 0 || opts.tabWidth < 0 || opts.padding < 0) throw new RangeError('negative minwidth, tabwidth, or padding');
    this.minWidth = opts.minWidth;
    this.tabWidth = opts.tabWidth;
    this.padding = opts.padding;
    this.padChar = opts.padChar;
    // Tab padding enforces left alignment.
    this.flags = opts.padChar === '\t' ? opts.flags & ~TabWriterFlags.AlignRight : opts.flags;
    this.measure = opts.widthMode === 'runes' ? runeCount : displayWidth;
  }

  write(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch !== '\t' && ch !== '\v' && ch !== '\n' && ch !== '\f') continue;
      this.cell += text.slice(start, i);
      start = i + 1;
      const ncells = this.terminateCell(ch === '\t');
      if (ch === '\n' || ch === '\f') {
        this.lines.push([]);
        // A single-cell line cannot influence later lines: everything buffered can go out.
        if (ch === '\f' || ncells === 1) {
          this.flushInternal();
          if (ch === '\f' && this.flags & TabWriterFlags.Debug) this.out += '---\n';
        }
      }
    }
    this.cell += text.slice(start);
  }

  /** Formats everything buffered and returns all output produced so far. */
  flush(): string {
    this.flushInternal();
    const out = this.out;
    this.out = '';
    return out;
  }

  private terminateCell(htab: boolean): number {
    const line = this.lines[this.lines.length - 1];
    line.push({ text: this.cell, width: this.measure(this.cell), htab });
    this.cell = '';
    return line.length;
  }

  private flushInternal(): void {
    if (this.cell.length > 0) this.terminateCell(false);
    this.format(0, this.lines.length);
    this.lines = [[]];
    this.widths = [];
  }

  private writePadding(textw: number, cellw: number, useTabs: boolean): void {
    if (this.padChar === '\t' || useTabs) {
      if (this.tabWidth === 0) return;
      cellw = Math.ceil(cellw / this.tabWidth) * this.tabWidth;
      const n = cellw - textw;
      this.out += '\t'.repeat(Math.ceil(n / this.tabWidth));
      return;
    }
    this.out += this.padChar.repeat(Math.max(0, cellw - textw));
  }

  private writeLines(line0: number, line1: number): void {
    for (let i = line0; i < line1; i++) {
      const line = this.lines[i];
      let useTabs = (this.flags & TabWriterFlags.TabIndent) !== 0;
      line.forEach((c, j) => {
        if (j > 0 && this.flags & TabWriterFlags.Debug) this.out += '|';
        if (c.text.length === 0) {
          if (j < this.widths.length) this.writePadding(c.width, this.widths[j], useTabs);
          return;
        }
        useTabs = false;
        if ((this.flags & TabWriterFlags.AlignRight) === 0) {
          this.out += c.text;
          if (j < this.widths.length) this.writePadding(c.width, this.widths[j], false);
        } else {
          if (j < this.widths.length) this.writePadding(c.width, this.widths[j], false);
          this.out += c.text;
        }
      });
      // The last buffered line has no newline yet (its text, if any, is an unterminated cell).
      if (i + 1 < this.lines.length) this.out += '\n';
    }
  }

  /** Formats lines [line0, line1): the columns to the left are known (this.widths). */
  private format(line0: number, line1: number): void {
    const column = this.widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= this.lines[cur].length - 1) continue;
      // A cell in this column: this line starts a block. Print the lines before it.
      this.writeLines(line0, cur);
      line0 = cur;
      let width = this.minWidth;
      let discardable = true;
      for (; cur < line1; cur++) {
        const line = this.lines[cur];
        if (column >= line.length - 1) break;
        const c = line[column];
        width = Math.max(width, c.width + this.padding);
        if (c.width > 0 || c.htab) discardable = false;
      }
      if (discardable && this.flags & TabWriterFlags.DiscardEmptyColumns) width = 0;
      this.widths.push(width);
      this.format(line0, cur);
      this.widths.pop();
      line0 = cur;
      cur--; // the for loop's increment resumes at the line that ended the block
    }
    this.writeLines(line0, line1);
  }
}

/** Runs text through a tabwriter (docker's `table` settings unless told otherwise) and flushes it. */
export function tabwrite(text: string, opts: TabWriterOptions = DOCKER_TABWRITER): string {
  const w = new TabWriter(opts);
  w.write(text);
  return w.flush();
}
