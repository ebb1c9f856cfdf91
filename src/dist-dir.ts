// Where the running bundle lives. import.meta.url cannot tell: code split
// into dist/chunks/ would look for its neighbours there. The launcher runs
// `node dist/berth.mjs`, so the entry script's directory is dist/.
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';

export function distDir(): string {
  const entry = process.argv[1];
  if (!entry) throw new Error('cannot locate the berth bundle: no entry script');
  return dirname(realpathSync(entry));
}
