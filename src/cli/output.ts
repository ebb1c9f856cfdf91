// Output conventions shared by commands: Go-style indented JSON, --format.
import { parseTemplate, TemplateError } from './format/template.ts';
import { inspectTemplateOptions } from './format/inspect-shapes.ts';
import { CliError } from './context.ts';
import { ApiError } from '../client/engine-client.ts';

/** JSON as Go's json.MarshalIndent(v, "", "    ") writes it, HTML-escaping included. */
export function goJson(value: unknown, indent = '    '): string {
  return JSON.stringify(value, null, indent)
    .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A reference `inspect` did not find: its message is reported after the output, in order. */
export class InspectMiss {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/**
 * `inspect`-style output: an indented JSON array, or a template per object.
 * `rawJson`: the objects are docker inspect's raw JSON (containers, images,
 * networks), so a key that names no field fails as the docker CLI's
 * missingkey=error pass does; the others print Go's `<no value>`. As the
 * docker CLI, every object that renders is printed, then the errors (misses
 * and template failures, in the order of the references), and a run that
 * printed nothing with a template prints an empty line.
 */
export function printInspect(items: unknown[], format?: string, rawJson = false): void {
  const objects = items.filter((o) => !(o instanceof InspectMiss));
  const errors: string[] = [];
  if (!format || format === 'json') {
    // `json`, as the docker CLI: the whole array on one line, not HTML-escaped.
    process.stdout.write(format ? JSON.stringify(objects) + '\n' : (objects.length ? goJson(objects) : '[]') + '\n');
    for (const o of items) if (o instanceof InspectMiss) errors.push(o.message);
  } else {
    let tpl;
    try {
      tpl = parseTemplate(format.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
    } catch (err) {
      throw new CliError(`template parsing error: ${(err as Error).message}`, 1);
    }
    let out = '';
    for (const o of items) {
      if (o instanceof InspectMiss) {
        errors.push(o.message);
        continue;
      }
      try {
        out += tpl.execute(o, rawJson ? inspectTemplateOptions(o) : {}) + '\n';
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        if (!rawJson) {
          errors.push(err.message);
          continue;
        }
        // The docker CLI's second pass, over the raw JSON with missingkey=error:
        // there every missing key fails, a label's too. It words failures as parsing errors.
        try {
          out += tpl.execute(o, { missingKey: 'error' }) + '\n';
        } catch (raw) {
          if (!(raw instanceof TemplateError)) throw raw;
          errors.push(`template parsing error: ${raw.message}`);
        }
      }
    }
    process.stdout.write(out || (rawJson ? '\n' : ''));
  }
  if (errors.length) throw new CliError(errors.join('\n'), 1);
}

/**
 * `image inspect`, `network inspect`: every object that exists is printed; a
 * missing one is reported with the daemon's message and fails the command.
 */
export async function inspectEach(refs: string[], fetch: (ref: string) => Promise<unknown>, format?: string, anyDaemonError = false): Promise<void> {
  const found: unknown[] = [];
  for (const r of refs) {
    try {
      found.push(await fetch(r));
    } catch (err) {
      // `anyDaemonError`: as the docker CLI's swarm inspects, every refusal is reported after the output, not only a miss.
      if (!(err instanceof ApiError) || (err.status !== 404 && !anyDaemonError)) throw err;
      found.push(new InspectMiss(`Error response from daemon: ${err.message}`));
    }
  }
  printInspect(found, format, true);
}

/** Runs `fn` for every argument, reports each failure like docker and fails at the end. */
/** Runs fn for each container, reporting each failure as the docker CLI does, then fails once at the end. */
export async function forEach(ids: string[], fn: (id: string) => Promise<void>): Promise<void> {
  let failed = false;
  for (const id of ids) {
    try {
      await fn(id);
    } catch (err) {
      failed = true;
      process.stderr.write(err instanceof ApiError ? `Error response from daemon: ${err.message}\n` : `${(err as Error).message}\n`);
    }
  }
  if (failed) throw new CliError('', 1);
}
