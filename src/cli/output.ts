// Output conventions shared by commands: Go-style indented JSON, --format.
import { parseTemplate } from './format/template.ts';
import { CliError } from './context.ts';
import { ApiError } from '../client/engine-client.ts';

/** JSON as Go's json.MarshalIndent(v, "", "    ") writes it, HTML-escaping included. */
export function goJson(value: unknown, indent = '    '): string {
  return JSON.stringify(value, null, indent)
    .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** `inspect`-style output: an indented JSON array, or a template per object. */
export function printInspect(objects: unknown[], format?: string): void {
  if (!format) {
    process.stdout.write((objects.length ? goJson(objects) : '[]') + '\n');
    return;
  }
  if (format === 'json') {
    // As the docker CLI: the whole array on one line, not HTML-escaped.
    process.stdout.write(JSON.stringify(objects) + '\n');
    return;
  }
  let tpl;
  try {
    tpl = parseTemplate(format.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
  } catch (err) {
    throw new CliError(`template parsing error: ${(err as Error).message}`, 1);
  }
  for (const o of objects) {
    try {
      process.stdout.write(tpl.execute(o) + '\n');
    } catch (err) {
      throw new CliError(`template: ${(err as Error).message.replace(/^template: /, '')}`, 1);
    }
  }
}

/**
 * `image inspect`, `network inspect`: every object that exists is printed; a
 * missing one is reported with the daemon's message and fails the command.
 */
export async function inspectEach(refs: string[], fetch: (ref: string) => Promise<unknown>, format?: string): Promise<void> {
  const found: unknown[] = [];
  let missing = false;
  for (const r of refs) {
    try {
      found.push(await fetch(r));
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      missing = true;
      process.stderr.write(`Error response from daemon: ${err.message}\n`);
    }
  }
  printInspect(found, format);
  if (missing) throw new CliError('', 1);
}
