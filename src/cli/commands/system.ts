// version, info, events.
import type { Command } from 'commander';
import { CLIENT_API_VERSION } from '../../client/engine-client.ts';
import { clientFor } from '../context.ts';
import { collect, globals } from '../options.ts';
import { printInspect } from '../output.ts';
import { parseTemplate } from '../format/template.ts';
import { bytesSize } from '../../api/units.ts';
import { checkTimeFlags } from '../options.ts';

interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano: number;
}

/** `2026-11-22T15:41:01.123456789Z container start <id> (image=…, name=…)`, as docker prints events. */
function eventLine(e: EventMessage): string {
  const ns = String(e.timeNano % 1_000_000_000).padStart(9, '0');
  const t = new Date(e.time * 1000).toISOString().replace(/\.\d+Z$/, `.${ns}Z`);
  const attrs = Object.keys(e.Actor.Attributes).sort().map((k) => `${k}=${e.Actor.Attributes[k]}`).join(', ');
  return `${t} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}`;
}

/** A template sees Go's events.Message fields (TimeNano, Scope, …), not the JSON keys (timeNano, scope, …). */
function templateFields(e: EventMessage): Record<string, unknown> {
  const raw = e as unknown as Record<string, unknown>;
  return { ...raw, Status: raw.status, ID: raw.id, From: raw.from, Scope: raw.scope, Time: e.time, TimeNano: e.timeNano };
}

export function registerSystemCommands(program: Command): void {
  program.command('version')
    .description('Show the berth version information')
    .option('-f, --format <format>', 'Format output using a custom template')
    .action(async (f: { format?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const server = await client.call<Record<string, string>>('GET', '/version');
      const clientInfo = { Version: '0.1.0', ApiVersion: CLIENT_API_VERSION, GoVersion: `node ${process.version}`, Os: 'linux', Arch: 'amd64' };
      if (f.format) {
        printInspect([{ Client: clientInfo, Server: server }], f.format);
        return;
      }
      process.stdout.write(
        `Client:\n Version:           ${clientInfo.Version}\n API version:       ${clientInfo.ApiVersion}\n Runtime:           ${clientInfo.GoVersion}\n OS/Arch:           linux/amd64\n\n` +
        `Server: berth\n Engine:\n  Version:          ${server.Version}\n  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n  Runtime:          ${server.GoVersion}\n  OS/Arch:          ${server.Os}/${server.Arch}\n  Kernel:           ${server.KernelVersion}\n`,
      );
    });

  program.command('info')
    .description('Display system-wide information')
    .option('-f, --format <format>', 'Format output using a custom template')
    .action(async (f: { format?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const i = await client.call<Record<string, unknown>>('GET', '/info');
      if (f.format) {
        printInspect([i], f.format);
        return;
      }
      const runtimes = Object.keys((i.Runtimes as Record<string, unknown>) ?? {}).join(' ');
      process.stdout.write([
        'Server:',
        ` Containers: ${i.Containers}`,
        `  Running: ${i.ContainersRunning}`,
        `  Paused: ${i.ContainersPaused}`,
        `  Stopped: ${i.ContainersStopped}`,
        ` Images: ${i.Images}`,
        ` Server Version: ${i.ServerVersion}`,
        ` Storage Driver: ${i.Driver}`,
        ` Logging Driver: ${i.LoggingDriver}`,
        ` Cgroup Driver: ${i.CgroupDriver}`,
        ` Cgroup Version: ${i.CgroupVersion}`,
        ` Runtimes: ${runtimes}`,
        ` Default Runtime: ${i.DefaultRuntime}`,
        ` Kernel Version: ${i.KernelVersion}`,
        ` Operating System: ${i.OperatingSystem}`,
        ` OSType: ${i.OSType}`,
        ` Architecture: ${i.Architecture}`,
        ` CPUs: ${i.NCPU}`,
        ` Total Memory: ${bytesSize(i.MemTotal as number)}`,
        ` Name: ${i.Name}`,
        ` ID: ${i.ID}`,
        ` Docker Root Dir: ${i.DockerRootDir}`,
        ` Debug Mode: ${i.Debug}`,
        ` Live Restore Enabled: ${i.LiveRestoreEnabled}`,
        '',
      ].join('\n'));
    });

  program.command('events')
    .description('Get real time events from the server')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <format>', 'Format the output using the given Go template')
    .option('--since <time>', 'Show all events created since timestamp')
    .option('--until <time>', 'Stream events until this timestamp')
    .action(async (f: { filter?: string[]; format?: string; since?: string; until?: string }, cmd: Command) => {
      checkTimeFlags({ since: f.since, until: f.until }, false);
      const client = await clientFor(globals(cmd));
      const filters: Record<string, string[]> = {};
      for (const kv of f.filter ?? []) {
        const eq = kv.indexOf('=');
        (filters[kv.slice(0, eq)] ??= []).push(kv.slice(eq + 1));
      }
      const res = await client.stream('GET', '/events', { query: { since: f.since, until: f.until, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined } });
      const tpl = f.format && f.format !== 'json' ? parseTemplate(f.format) : undefined;
      let buf = '';
      for await (const chunk of res) {
        buf += String(chunk);
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.trim()) continue;
          const e = JSON.parse(line) as EventMessage;
          process.stdout.write((f.format === 'json' ? JSON.stringify(e) : tpl ? tpl.execute(templateFields(e)) : eventLine(e)) + '\n');
        }
      }
    });
}
