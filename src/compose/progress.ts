// Progress as docker compose v2 shows it, on stderr: plain lines
// (` Container p-web-1  Started`), a live view on a terminal
// (`[+] Running 2/2` over ` ✔ Container p-web-1  Started  0.4s`), JSON lines,
// or nothing (quiet).

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet' | 'json';
export type EventStatus = 'working' | 'done' | 'warning' | 'error';

interface Line {
  id: string;
  text: string;
  status: EventStatus;
  started: number;
  ended?: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Progress {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly out: NodeJS.WriteStream;
  private readonly lines = new Map<string, Line>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  private tick = 0;
  private title: string;
  /** Before every resource line: compose's `DRY-RUN MODE - ` in dry-run mode. */
  prefix = '';

  constructor(mode: ProgressMode = 'auto', out: NodeJS.WriteStream = process.stderr, title = 'Running') {
    this.out = out;
    this.mode = mode === 'auto' ? (out.isTTY && process.env.TERM !== 'dumb' ? 'tty' : 'plain') : mode;
    this.title = title;
  }

  /** One event of a resource: `id` is "Container p-web-1", "Network p_default", `Volume "p_data"`. */
  event(id: string, status: EventStatus, text: string): void {
    const now = Date.now();
    const prev = this.lines.get(id);
    const line: Line = { id, text, status, started: prev && prev.status === 'working' ? prev.started : now, ...(status === 'working' ? {} : { ended: now }) };
    this.lines.set(id, line);
    if (this.mode === 'plain') this.out.write(` ${this.prefix ? this.prefix + ' ' : ''}${id}  ${text}\n`);
    else if (this.mode === 'json') {
      // compose's events carry their word as the status text (its `text` field stays empty and is left out).
      this.out.write(JSON.stringify({ ...(this.prefix ? { 'dry-run': true } : {}), id, status: text }) + '\n');
    } else if (this.mode === 'tty') {
      this.timer ??= setInterval(() => this.draw(), 100);
      this.draw();
    }
  }

  /** Lines that do not belong to a resource (warnings): through the view, not across it. */
  message(text: string): void {
    if (this.mode === 'quiet' || this.mode === 'json') return;
    if (this.mode === 'tty') this.clear();
    this.out.write(text.endsWith('\n') ? text : text + '\n');
    if (this.mode === 'tty') this.draw();
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    this.tick++;
    const now = Date.now();
    const lines = [...this.lines.values()];
    const done = lines.filter((l) => l.status !== 'working').length;
    const pre = this.prefix ? this.prefix + ' ' : '';
    const width = Math.max(...lines.map((l) => pre.length + l.id.length + l.text.length + 2), 0);
    const out: string[] = [`\x1b[34m[+] ${this.title} ${done}/${lines.length}\x1b[0m`];
    for (const l of lines) {
      const icon = l.status === 'working' ? SPINNER[this.tick % SPINNER.length] : l.status === 'done' ? '\x1b[32m✔\x1b[0m' : l.status === 'warning' ? '\x1b[33m!\x1b[0m' : '\x1b[31m✘\x1b[0m';
      const secs = (((l.ended ?? now) - l.started) / 1000).toFixed(1);
      const body = `${pre}${l.id}  ${l.text}`;
      out.push(` ${icon} ${body}${' '.repeat(width - body.length + 1)}\x1b[34m${secs}s\x1b[0m`);
    }
    this.clear();
    this.out.write(out.join('\n') + '\n');
    this.drawn = out.length;
  }

  /** Ends the live view (its last frame stays on the screen). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'tty' && this.lines.size > 0) this.draw();
    this.lines.clear();
    this.drawn = 0;
  }
}

export const ids = {
  container: (name: string) => `Container ${name}`,
  network: (name: string) => `Network ${name}`,
  volume: (name: string) => `Volume "${name}"`,
  image: (name: string) => `Image ${name}`,
};
