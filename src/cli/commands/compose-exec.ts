// `compose exec` and `compose cp`: reaching into a service's running containers.
import type { Command } from 'commander';
import type { EngineClient } from '../../client/engine-client.ts';
import { projectContainers, serviceContainer } from '../../compose/project-containers.ts';
import { clientFor, CliError, StatusError } from '../context.ts';
import { resolveProject, indexFlag } from '../compose-project.ts';
import { collect, globals } from '../options.ts';
import { copyOutput, followResize, pumpStdin, terminalSize, withRawTerminal } from '../streams.ts';

/** `-e K=V` as given; a bare `-e K` takes K from this shell, or is dropped when unset (as compose resolves it). */
export function execEnv(list: string[] = []): string[] {
  const out: string[] = [];
  for (const e of list) {
    if (e.includes('=')) out.push(e);
    else if (process.env[e] !== undefined) out.push(`${e}=${process.env[e]}`);
  }
  return out;
}

interface ExecFlags { detach?: boolean; privileged?: boolean; user?: string; tty: boolean; interactive: boolean; index?: string; env?: string[]; workdir?: string }

async function runExec(client: EngineClient, project: string, service: string, command: string[], f: ExecFlags): Promise<number> {
  const c = await serviceContainer(client, project, service, indexFlag(f.index) || undefined);
  // A tty unless -T, and only when this side has one, as docker compose decides.
  const tty = f.tty && process.stdin.isTTY === true;
  const stdin = f.interactive && !f.detach;
  const body = {
    User: f.user ?? '', Privileged: f.privileged === true, Tty: tty,
    AttachStdin: stdin, AttachStdout: !f.detach, AttachStderr: !f.detach,
    Env: execEnv(f.env), WorkingDir: f.workdir ?? '', Cmd: command,
    ConsoleSize: tty ? terminalSize() ?? null : null,
  };
  const { Id } = await client.call<{ Id: string }>('POST', `/containers/${c.Id}/exec`, { body });
  if (f.detach) {
    await client.status('POST', `/exec/${Id}/start`, { body: { Detach: true, Tty: tty } });
    return 0;
  }
  const code = await withRawTerminal(tty && stdin, async () => {
    const { socket } = await client.hijack(`/exec/${Id}/start`, { body: { Detach: false, Tty: tty, ConsoleSize: body.ConsoleSize } });
    const done = copyOutput(socket, tty);
    if (stdin) pumpStdin(socket);
    const stopResize = tty ? followResize((h, w) => client.status('POST', `/exec/${Id}/resize`, { query: { h, w } })) : () => {};
    await done;
    stopResize();
    const ins = await client.call<{ ExitCode: number | null }>('GET', `/exec/${Id}/json`);
    return ins.ExitCode ?? 0;
  });
  process.stdin.pause();
  return code;
}

/** `SERVICE:PATH` → [service, path]; a plain path (or `-`) has no service. Absolute and ./ paths are local, as in compose. */
function splitServiceArg(arg: string): [string, string] {
  if (arg.startsWith('/') || arg.startsWith('.')) return ['', arg];
  const colon = arg.indexOf(':');
  return colon < 0 ? ['', arg] : [arg.slice(0, colon), arg.slice(colon + 1)];
}

interface CpFlags { archive?: boolean; followLink?: boolean; index?: string; all?: boolean }

/**
 * `compose cp`: `docker cp` against the service's container — the first one
 * (or --index) when copying out, every one when copying in. The transfer is
 * the top-level `cp` command's own, run per container.
 */
async function runCp(cmd: Command, client: EngineClient, project: string, src: string, dst: string, f: CpFlags): Promise<void> {
  const [srcService, srcPath] = splitServiceArg(src);
  const [dstService, dstPath] = splitServiceArg(dst);
  if (srcService && dstService) throw new CliError('copying between services is not supported', 1);
  if (!srcService && !dstService) throw new CliError('unknown copy direction', 1);
  const service = srcService || dstService;
  let targets;
  const index = indexFlag(f.index);
  if (index) {
    targets = [await serviceContainer(client, project, service, index, { all: true })];
  } else {
    targets = await projectContainers(client, project, { services: [service], all: true, oneoff: f.all ? 'include' : 'exclude' });
    if (targets.length === 0) throw new CliError(`no container found for service ${JSON.stringify(service)}`, 1);
    if (srcService) targets = targets.slice(0, 1);
  }
  let root = cmd;
  while (root.parent) root = root.parent;
  const cp = root.commands.find((c) => c.name() === 'cp');
  if (!cp) throw new CliError('berth has no cp command', 1);
  const flags = [...(f.archive ? ['--archive'] : []), ...(f.followLink ? ['--follow-link'] : [])];
  for (const c of targets) {
    const from = srcService ? `${c.Id}:${srcPath}` : srcPath;
    const to = dstService ? `${c.Id}:${dstPath}` : dstPath;
    await cp.parseAsync([...flags, from, to], { from: 'user' });
  }
}

export function registerComposeExecCommands(compose: Command): void {
  compose.command('exec')
    .description('Execute a command in a running container')
    .argument('<service>')
    .argument('<command...>')
    .option('-d, --detach', 'Detached mode: Run command in the background')
    .option('--privileged', 'Give extended privileges to the process')
    .option('-u, --user <user>', 'Run the command as this user')
    .option('-T, --no-tty', 'Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.')
    .option('-i, --interactive', 'Keep STDIN open even if not attached', true)
    .option('--index <index>', 'Index of the container if service has multiple replicas')
    .option('-e, --env <env>', 'Set environment variables', collect)
    .option('-w, --workdir <dir>', 'Path to workdir directory for this command')
    .passThroughOptions()
    .action(async (service: string, command: string[], f: ExecFlags, cmd: Command) => {
      const code = await runExec(await clientFor(globals(cmd)), (await resolveProject(cmd, 'name')).name, service, command, f);
      if (code !== 0) throw new StatusError(code);
    });

  compose.command('cp')
    .description('Copy files/folders between a service container and the local filesystem')
    .argument('<src>', 'SERVICE:SRC_PATH or SRC_PATH|-')
    .argument('<dest>', 'DEST_PATH|- or SERVICE:DEST_PATH')
    .option('--all', 'Include containers created by the run command')
    .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
    .option('--index <index>', 'Index of the container if service has multiple replicas')
    .action(async (src: string, dst: string, f: CpFlags, cmd: Command) => {
      await runCp(cmd, await clientFor(globals(cmd)), (await resolveProject(cmd, 'name')).name, src, dst, f);
    });
}
