// Where the running bundle lives. import.meta.url cannot tell: code split
// into dist/chunks/ would look for its neighbours there. The launcher runs
// either `node dist/berth.mjs ARGS` or `node --snapshot-blob dist/cli.blob
// ARGS`; both name a file in dist/.
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';

export function distDir(): string {
  const blob = process.execArgv.findIndex((a) => a === '--snapshot-blob' || a.startsWith('--snapshot-blob='));
  if (blob >= 0) {
    const a = process.execArgv[blob];
    const path = a.includes('=') ? a.slice(a.indexOf('=') + 1) : process.execArgv[blob + 1];
    if (path) return dirname(realpathSync(path));
  }
  const entry = process.argv[1];
  if (!entry) throw new Error('cannot locate the berth bundle: no entry script');
  return dirname(realpathSync(entry));
}
