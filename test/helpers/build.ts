// Build contexts on disk and the classic builder's step lines, for build tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A fresh directory with the given files (path → content). */
export function context(files: Record<string, string>): string {
  const dir = mkdtempSync('/tmp/berth-bctx-');
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

/** The step lines of a classic build output, each with whether it was a cache hit. */
export function steps(out: string): { step: string; cached: boolean }[] {
  const res: { step: string; cached: boolean }[] = [];
  for (const line of out.split('\n')) {
    const m = /^Step \d+\/\d+ : (.*)$/.exec(line);
    if (m) res.push({ step: m[1], cached: false });
    else if (line === ' ---> Using cache' && res.length) res[res.length - 1].cached = true;
  }
  return res;
}

/** The directories a test file makes (contexts and the like), removed together at its end. */
export class TestDirs {
  private readonly dirs: string[] = [];
  /** A fresh context directory with these files. */
  readonly context = (files: Record<string, string>): string => this.track(context(files));
  track(dir: string): string {
    this.dirs.push(dir);
    return dir;
  }
  removeAll(): void {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}
