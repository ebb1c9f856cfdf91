// The parsing half of berth's Go text/template: the lexer and the parser that
// turn a --format string into the tree template.ts executes. Errors carry
// Go's wording (`template: :1: ...`).

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

// ---------------- lexer ----------------

type Tok =
  | { k: 'text'; v: string }
  // pos: where Go's errors place the operand: its second segment (where a chain starts), else its first.
  | { k: 'field'; v: string[]; pos: number }            // .A.B  ("." alone = [])
  | { k: 'var'; v: string; path: string[]; pos: number } // $x.A
  | { k: 'ident'; v: string }
  | { k: 'string'; v: string }
  | { k: 'number'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'nil' }
  | { k: 'punct'; v: '(' | ')' | '|' | ':=' | '=' | ',' }
  | { k: 'open' }
  | { k: 'close' };

export function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let trimNextText = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNextText) text = text.replace(/^\s+/, '');
    trimNextText = false;
    if (open < 0) {
      if (text) toks.push({ k: 'text', v: text });
      break;
    }
    let j = open + 2;
    if (src[j] === '-' && /\s/.test(src[j + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      j += 2;
    }
    if (text) toks.push({ k: 'text', v: text });
    if (src.startsWith('/*', j) || src.startsWith(' /*', j)) {
      const end = src.indexOf('*/', j);
      const close = end < 0 ? -1 : src.indexOf('}}', end);
      if (close < 0) throw new TemplateError('template: :1: unclosed comment');
      if (src[close - 1] === '-' && /\s/.test(src[close - 2] ?? '')) trimNextText = true;
      i = close + 2;
      continue;
    }
    toks.push({ k: 'open' });
    for (;;) {
      while (j < src.length && /[ \t\r\n]/.test(src[j])) j++;
      if (j >= src.length) throw new TemplateError('template: :1: unclosed action');
      if (src[j] === '-' && src.startsWith('}}', j + 1) && /\s/.test(src[j - 1] ?? '')) {
        trimNextText = true;
        j += 1;
      }
      if (src.startsWith('}}', j)) {
        toks.push({ k: 'close' });
        i = j + 2;
        break;
      }
      const c = src[j];
      if (c === '"') {
        let k = j + 1;
        let out = '';
        while (k < src.length && src[k] !== '"') {
          if (src[k] === '\\') {
            const e = src[k + 1];
            const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
            if (e in map) {
              out += map[e];
              k += 2;
              continue;
            }
            if (e === 'x') {
              out += String.fromCharCode(parseInt(src.slice(k + 2, k + 4), 16));
              k += 4;
              continue;
            }
            if (e === 'u') {
              out += String.fromCharCode(parseInt(src.slice(k + 2, k + 6), 16));
              k += 6;
              continue;
            }
            throw new TemplateError(`template: :1: unknown escape sequence: \\${e}`);
          }
          out += src[k++];
        }
        if (src[k] !== '"') throw new TemplateError('template: :1: unterminated quoted string');
        toks.push({ k: 'string', v: out });
        j = k + 1;
      } else if (c === '`') {
        const k = src.indexOf('`', j + 1);
        if (k < 0) throw new TemplateError('template: :1: unterminated raw quoted string');
        toks.push({ k: 'string', v: src.slice(j + 1, k) });
        j = k + 1;
      } else if (c === '(' || c === ')' || c === '|' || c === ',') {
        toks.push({ k: 'punct', v: c });
        j++;
      } else if (src.startsWith(':=', j)) {
        toks.push({ k: 'punct', v: ':=' });
        j += 2;
      } else if (c === '=') {
        toks.push({ k: 'punct', v: '=' });
        j++;
      } else if (c === '.' && !/[0-9]/.test(src[j + 1] ?? '')) {
        const m = /^(\.[A-Za-z_][A-Za-z0-9_]*)+|^\./.exec(src.slice(j)) as RegExpExecArray;
        toks.push({ k: 'field', v: m[0] === '.' ? [] : m[0].slice(1).split('.'), pos: m[0].indexOf('.', 1) > 0 ? j + m[0].indexOf('.', 1) : j });
        j += m[0].length;
      } else if (c === '$') {
        const m = /^\$[A-Za-z0-9_]*((\.[A-Za-z_][A-Za-z0-9_]*)*)/.exec(src.slice(j)) as RegExpExecArray;
        const name = m[0].slice(0, m[0].length - m[1].length);
        toks.push({ k: 'var', v: name, path: m[1] ? m[1].slice(1).split('.') : [], pos: m[1] ? j + name.length : j });
        j += m[0].length;
      } else if (/[0-9+-]/.test(c) || (c === '.' && /[0-9]/.test(src[j + 1] ?? ''))) {
        const m = /^[+-]?(0x[0-9a-fA-F]+|\d*\.?\d+(e[+-]?\d+)?)/.exec(src.slice(j));
        if (!m) throw new TemplateError(`template: :1: bad number syntax: "${src.slice(j, j + 5)}"`);
        toks.push({ k: 'number', v: Number(m[0]) });
        j += m[0].length;
      } else if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(j)) as RegExpExecArray;
        const w = m[0];
        if (w === 'true' || w === 'false') toks.push({ k: 'bool', v: w === 'true' });
        else if (w === 'nil') toks.push({ k: 'nil' });
        else toks.push({ k: 'ident', v: w });
        j += w.length;
      } else {
        throw new TemplateError(`template: :1: unexpected "${c}" in operand`);
      }
    }
  }
  return toks;
}

// ---------------- parser ----------------

export type Operand =
  | { t: 'field'; path: string[]; pos: number }
  | { t: 'var'; name: string; path: string[]; pos: number }
  | { t: 'ident'; name: string }
  | { t: 'lit'; v: unknown }
  | { t: 'sub'; pipe: Pipeline; path: string[]; pos: number };

export interface Command { operands: Operand[] }
export interface Pipeline { decl: string[]; assign: boolean; cmds: Command[] }

export type Node =
  | { t: 'text'; v: string }
  | { t: 'action'; pipe: Pipeline }
  | { t: 'if' | 'with'; pipe: Pipeline; body: Node[]; els: Node[] }
  | { t: 'range'; pipe: Pipeline; body: Node[]; els: Node[] };

export class Parser {
  private pos = 0;
  private readonly toks: Tok[];
  constructor(toks: Tok[]) {
    this.toks = toks;
  }

  private peek(): Tok | undefined {
    return this.toks[this.pos];
  }

  private next(): Tok {
    const t = this.toks[this.pos++];
    if (!t) throw new TemplateError('template: :1: unexpected EOF');
    return t;
  }

  private expectClose(): void {
    const t = this.next();
    if (t.k !== 'close') throw new TemplateError(`template: :1: unexpected ${describe(t)} in command`);
  }

  /** Parses nodes until {{end}} / {{else}} (returned as the terminator). */
  list(inBlock: boolean): { nodes: Node[]; end: 'end' | 'else' | 'eof'; elseIf?: boolean } {
    const nodes: Node[] = [];
    while (this.pos < this.toks.length) {
      const t = this.next();
      if (t.k === 'text') {
        nodes.push({ t: 'text', v: t.v });
        continue;
      }
      if (t.k !== 'open') throw new TemplateError(`template: :1: unexpected ${describe(t)}`);
      const kw = this.peek();
      if (kw?.k === 'ident' && ['if', 'range', 'with', 'end', 'else'].includes(kw.v)) {
        this.pos++;
        if (kw.v === 'end') {
          if (!inBlock) throw new TemplateError('template: :1: unexpected {{end}}');
          this.expectClose();
          return { nodes, end: 'end' };
        }
        if (kw.v === 'else') {
          if (!inBlock) throw new TemplateError('template: :1: unexpected {{else}}');
          const after = this.peek();
          if (after?.k === 'ident' && (after.v === 'if' || after.v === 'with')) {
            return { nodes, end: 'else', elseIf: true };
          }
          this.expectClose();
          return { nodes, end: 'else' };
        }
        nodes.push(this.block(kw.v as 'if' | 'range' | 'with'));
        continue;
      }
      const pipe = this.pipeline();
      this.expectClose();
      nodes.push({ t: 'action', pipe });
    }
    if (inBlock) throw new TemplateError('template: :1: unexpected EOF');
    return { nodes, end: 'eof' };
  }

  private block(kind: 'if' | 'range' | 'with'): Node {
    const pipe = this.pipeline();
    this.expectClose();
    const body = this.list(true);
    let els: Node[] = [];
    if (body.end === 'else') {
      if (body.elseIf) {
        const kw = this.next() as { k: 'ident'; v: string };
        // `{{else if x}}` is `{{else}}{{if x}}…{{end}}` sharing the outer {{end}}.
        els = [this.block(kw.v as 'if' | 'with')];
      } else {
        const rest = this.list(true);
        if (rest.end !== 'end') throw new TemplateError('template: :1: expected end; found else');
        els = rest.nodes;
      }
    }
    return kind === 'range' ? { t: 'range', pipe, body: body.nodes, els } : { t: kind, pipe, body: body.nodes, els };
  }

  pipeline(): Pipeline {
    const decl: string[] = [];
    let assign = false;
    // `$x :=` / `$i, $e :=` / `$x =`
    const save = this.pos;
    const vars: string[] = [];
    while (this.peek()?.k === 'var') {
      const v = this.next() as { k: 'var'; v: string; path: string[]; pos: number };
      if (v.path.length) break;
      vars.push(v.v);
      const p = this.peek();
      if (p?.k === 'punct' && p.v === ',') {
        this.pos++;
        continue;
      }
      break;
    }
    const p = this.peek();
    if (vars.length && p?.k === 'punct' && (p.v === ':=' || p.v === '=')) {
      this.pos++;
      decl.push(...vars);
      assign = p.v === '=';
    } else {
      this.pos = save;
    }
    const cmds: Command[] = [];
    for (;;) {
      const operands: Operand[] = [];
      for (;;) {
        const t = this.peek();
        if (!t || t.k === 'close' || (t.k === 'punct' && (t.v === '|' || t.v === ')'))) break;
        operands.push(this.operand());
      }
      if (operands.length === 0) throw new TemplateError('template: :1: missing value for command');
      cmds.push({ operands });
      const t = this.peek();
      if (t?.k === 'punct' && t.v === '|') {
        this.pos++;
        continue;
      }
      break;
    }
    return { decl, assign, cmds };
  }

  private operand(): Operand {
    const t = this.next();
    switch (t.k) {
      case 'field': return { t: 'field', path: t.v, pos: t.pos };
      case 'var': return { t: 'var', name: t.v, path: t.path, pos: t.pos };
      case 'ident': return { t: 'ident', name: t.v };
      case 'string': return { t: 'lit', v: t.v };
      case 'number': return { t: 'lit', v: t.v };
      case 'bool': return { t: 'lit', v: t.v };
      case 'nil': return { t: 'lit', v: null };
      case 'punct':
        if (t.v === '(') {
          const pipe = this.pipeline();
          const c = this.next();
          if (c.k !== 'punct' || c.v !== ')') throw new TemplateError('template: :1: unclosed left paren');
          let path: string[] = [];
          let pos = 0;
          const f = this.peek();
          if (f?.k === 'field' && f.v.length) {
            this.pos++;
            path = f.v;
            pos = f.pos;
          }
          return { t: 'sub', pipe, path, pos };
        }
    }
    throw new TemplateError(`template: :1: unexpected ${describe(t)} in operand`);
  }
}

function describe(t: Tok): string {
  switch (t.k) {
    case 'punct': return `"${t.v}"`;
    case 'close': return '"}}"';
    case 'open': return '"{{"';
    case 'ident': return `<${t.v}>`;
    default: return t.k;
  }
}

// ---------------- values ----------------
