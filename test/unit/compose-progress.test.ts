// docker compose v2's progress lines, in each --progress mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress, ids } from '../../src/compose/progress.ts';

class Sink {
  text = '';
  isTTY = false;
  write(s: string): boolean { this.text += s; return true; }
}

function run(mode: 'plain' | 'json' | 'quiet' | 'tty'): string {
  const out = new Sink();
  const p = new Progress(mode, out as unknown as NodeJS.WriteStream);
  p.event(ids.network('p_default'), 'working', 'Creating');
  p.event(ids.network('p_default'), 'done', 'Created');
  p.event(ids.volume('p_data'), 'done', 'Created');
  p.event(ids.container('p-web-1'), 'error', 'Error');
  p.message('WARN[0000] a warning');
  p.stop();
  return out.text;
}

test('plain: one line per event, as docker compose prints off a terminal', () => {
  assert.equal(run('plain'), ' Network p_default  Creating\n Network p_default  Created\n Volume "p_data"  Created\n Container p-web-1  Error\nWARN[0000] a warning\n');
});

test('json: one object per event; quiet: nothing', () => {
  assert.equal(run('json'), [
    '{"id":"Network p_default","status":"Creating"}', '{"id":"Network p_default","status":"Created"}',
    '{"id":"Volume \\"p_data\\"","status":"Created"}', '{"id":"Container p-web-1","status":"Error"}', '',
  ].join('\n'));
  assert.equal(run('quiet'), '');
});

test('tty: the last frame holds every resource once, with its final state', () => {
  const text = run('tty');
  const frame = text.slice(text.lastIndexOf('[+]'));
  assert.match(frame, /^\[\+\] Running 3\/3/);
  assert.match(frame, /✔\S* Network p_default {2}Created/);
  assert.match(frame, /✘\S* Container p-web-1 {2}Error/);
  assert.equal(frame.match(/Network p_default/g)?.length, 1);
});
