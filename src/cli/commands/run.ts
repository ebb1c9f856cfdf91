// run, create, start, attach, exec: the commands that build a container
// config from flags and wire the terminal to a container's streams.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ApiError, type EngineClient } from '../../client/engine-client.ts';
import { clientFor, CliError, StatusError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { copyOutput, detachKeyBytes, followResize, pumpStdin, terminalSize, withRawTerminal } from '../streams.ts';
import { ramInBytes } from '../../api/units.ts';
import { pullImage } from '../pull.ts';
import { contentTrustOption, trustContext, trustedDigest, trustEnabled } from '../trust.ts';
import { configDir, configuredDetachKeys } from '../credentials.ts';
import { addIsolationOptions, isolationFields, securityOptsField, type IsolationFlags } from '../isolation-flags.ts';
import { addResourceOptions, cpusFlag, healthcheckField, resourceFields, type HealthFlags, type ResourceFlags } from '../resource-flags.ts';
import { familiarString, parseNormalizedNamed, withDefaultTag } from '../../api/reference.ts';
import { parseExpose, parsePortSpecs, PortSpecError } from '../../api/port-spec.ts';
import { parseMountFlag, tmpfsFlags, volumeFlags } from '../mount-flags.ts';

interface CreateFlags extends ResourceFlags, HealthFlags, IsolationFlags {
  attach?: string[];
  detach?: boolean;
  rm?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  entrypoint?: string;
  label?: string[];
  labelFile?: string[];
  cidfile?: string;
  interactive?: boolean;
  tty?: boolean;
  init?: boolean;
  network?: string;
  net?: string;
  restart?: string;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  readOnly?: boolean;
  securityOpt?: string[];
  logDriver?: string;
  logOpt?: string[];
  stopSignal?: string;
  stopTimeout?: string;
  runtime?: string;
  memory?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
  ulimit?: string[];
  tmpfs?: string[];
  sysctl?: string[];
  shmSize?: string;
  addHost?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  detachKeys?: string;
  volume?: string[];
  mount?: string[];
  volumesFrom?: string[];
  volumeDriver?: string;
  publish?: string[];
  publishAll?: boolean;
  expose?: string[];
  networkAlias?: string[];
  link?: string[];
  ip?: string;
  macAddress?: string;
  platform?: string;
  pull?: string;
  disableContentTrust?: boolean;
  quiet?: boolean;
}

function addCreateFlags(cmd: Command): Command {
  return addIsolationOptions(addResourceOptions(cmd))
    .addOption(contentTrustOption('Skip image verification (default true)'))
    .option('-a, --attach <stream>', 'Attach to STDIN, STDOUT or STDERR', collect)
    .option('--name <name>', 'Assign a name to the container')
    .option('-e, --env <env>', 'Set environment variables', collect)
    .option('--env-file <file>', 'Read in a file of environment variables', collect)
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .option('-u, --user <user>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('-h, --hostname <name>', 'Container host name')
    .option('--domainname <name>', 'Container NIS domain name')
    .option('--entrypoint <cmd>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-l, --label <label>', 'Set meta data on a container', collect)
    .option('--label-file <file>', 'Read in a line delimited file of labels', collect)
    .option('--cidfile <file>', 'Write the container ID to the file')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('--network <network>', 'Connect a container to a network')
    .addOption(new Option('--net <network>').hideHelp())
    .option('--restart <policy>', 'Restart policy to apply when a container exits', 'no')
    .option('--privileged', 'Give extended privileges to this container')
    .option('--cap-add <cap>', 'Add Linux capabilities', collect)
    .option('--cap-drop <cap>', 'Drop Linux capabilities', collect)
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--security-opt <opt>', 'Security Options', collect)
    .option('--log-driver <driver>', 'Logging driver for the container')
    .option('--log-opt <opt>', 'Log driver options', collect)
    .option('--stop-signal <signal>', 'Signal to stop the container')
    .option('--stop-timeout <seconds>', 'Timeout (in seconds) to stop a container')
    .option('--runtime <runtime>', 'Runtime to use for this container')
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--cpus <number>', 'Number of CPUs')
    .option('-c, --cpu-shares <shares>', 'CPU shares (relative weight)')
    .option('--pids-limit <n>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--ulimit <ulimit>', 'Ulimit options', collect)
    .option('--tmpfs <mount>', 'Mount a tmpfs directory', collect)
    .option('--sysctl <kv>', 'Sysctl options', collect)
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--add-host <host:ip>', 'Add a custom host-to-IP mapping', collect)
    .option('--dns <ip>', 'Set custom DNS servers', collect)
    .option('--dns-search <domain>', 'Set custom DNS search domains', collect)
    .option('--dns-option <opt>', 'Set DNS options', collect)
    .option('-v, --volume <spec>', 'Bind mount a volume', collect)
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect)
    .option('--volumes-from <container>', 'Mount volumes from the specified container(s)', collect)
    .option('--volume-driver <driver>', 'Optional volume driver for the container')
    .option('-p, --publish <spec>', "Publish a container's port(s) to the host", collect)
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .option('--expose <port>', 'Expose a port or a range of ports', collect)
    .option('--network-alias <alias>', 'Add network-scoped alias for the container', collect)
    .option('--link <name:alias>', 'Add link to another container', collect)
    .option('--ip <address>', 'IPv4 address (e.g., 172.30.100.104)')
    .option('--mac-address <mac>', 'Container MAC address (e.g., 92:d0:c6:0a:29:33)')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .option('--pull <policy>', 'Pull image before running ("always", "missing", "never")', 'missing')
    .option('-q, --quiet', 'Suppress the pull output');
}

function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CliError(`open ${path}: no such file or directory`, 125);
  }
  return text.split('\n').map((l) => l.replace(/^\s+/, '')).filter((l) => l !== '' && !l.startsWith('#')).flatMap((l) => {
    if (l.includes('=')) return [l];
    const v = process.env[l.trim()];
    return v === undefined ? [] : [`${l.trim()}=${v}`];
  });
}

function envList(f: CreateFlags): string[] {
  const out: string[] = [];
  for (const file of f.envFile ?? []) out.push(...readEnvFile(file));
  for (const e of f.env ?? []) {
    if (e.includes('=')) out.push(e);
    else if (process.env[e] !== undefined) out.push(`${e}=${process.env[e]}`);
  }
  return out;
}

/** --detach-keys, else config.json's detachKeys, as the docker CLI. */
function detachKeysFor(flag: string | undefined, cmd: Command): string | undefined {
  return flag ?? configuredDetachKeys(configDir(globals(cmd).config));
}

function kvMap(list: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq < 0) out[kv] = '';
    else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function parseRestart(p: string): { Name: string; MaximumRetryCount: number } {
  const [name, count] = p.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name)) throw new CliError(`invalid restart policy format: ${p}`, 125);
  if (count !== undefined && name !== 'on-failure') throw new CliError(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`, 125);
  return { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
}

function parseUlimit(u: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
  if (!m) throw new CliError(`invalid argument "${u}" for "--ulimit" flag: invalid ulimit argument: ${u}`, 125);
  return { Name: m[1], Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) };
}

/** Turns docker-style flags and the positional image/command into a create request. */
export function createBody(f: CreateFlags, image: string, command: string[]): Record<string, unknown> {
  const { volumes, binds } = volumeFlags(f.volume ?? []);
  const mounts = (f.mount ?? []).map(parseMountFlag);
  let ports;
  try {
    ports = parsePortSpecs(f.publish ?? []);
    Object.assign(ports.exposed, parseExpose(f.expose ?? []));
  } catch (err) {
    if (err instanceof PortSpecError) throw new CliError(`invalid argument "${(f.publish ?? []).join(',')}" for "-p, --publish" flag: ${err.message}`, 125);
    throw err;
  }
  const networkMode = f.network ?? f.net ?? 'default';
  const endpoint = {
    ...(f.ip ? { IPAMConfig: { IPv4Address: f.ip } } : {}),
    ...(f.networkAlias?.length ? { Aliases: f.networkAlias } : {}),
    ...(f.macAddress ? { MacAddress: f.macAddress } : {}),
  };
  const userNetwork = !['default', 'bridge', 'host', 'none'].includes(networkMode) && !networkMode.startsWith('container:');
  if (userNetwork && f.link?.length) Object.assign(endpoint, { Links: f.link });
  const attach = new Set((f.attach ?? []).map((s) => s.toLowerCase()));
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new CliError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`, 125);
  const detached = f.detach === true;
  if (detached && attach.size > 0) throw new CliError('Conflicting options: -a and -d', 125);
  const attachStdin = !detached && (attach.has('stdin') || (attach.size === 0 && f.interactive === true));
  const attachStdout = !detached && (attach.size === 0 || attach.has('stdout'));
  const attachStderr = !detached && (attach.size === 0 || attach.has('stderr'));
  const labels: Record<string, string> = {};
  for (const file of f.labelFile ?? []) Object.assign(labels, kvMap(readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'))));
  Object.assign(labels, kvMap(f.label));
  let entrypoint: string[] | undefined;
  if (f.entrypoint !== undefined) entrypoint = f.entrypoint === '' ? [''] : [f.entrypoint];
  const logConfig = f.logDriver || f.logOpt?.length ? { Type: f.logDriver ?? '', Config: kvMap(f.logOpt) } : undefined;
  const exposed = ports.exposed;
  const tmpfs = tmpfsFlags(f.tmpfs ?? []);
  return {
    Hostname: f.hostname ?? '',
    Domainname: f.domainname ?? '',
    User: f.user ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    Tty: f.tty === true,
    OpenStdin: f.interactive === true,
    StdinOnce: f.interactive === true && attachStdin,
    Env: envList(f),
    Cmd: command.length ? command : null,
    Image: image,
    WorkingDir: f.workdir ?? '',
    Entrypoint: entrypoint ?? null,
    Labels: labels,
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    ...(Object.keys(volumes).length ? { Volumes: volumes } : {}),
    ...(f.stopSignal ? { StopSignal: f.stopSignal } : {}),
    ...(f.stopTimeout ? { StopTimeout: Number(f.stopTimeout) } : {}),
    ...(healthcheckField(f) ? { Healthcheck: healthcheckField(f) } : {}),
    HostConfig: {
      ...resourceFields(f),
      ...isolationFields(f),
      Binds: binds.length ? binds : null,
      ...(mounts.length ? { Mounts: mounts } : {}),
      VolumesFrom: f.volumesFrom ?? null,
      VolumeDriver: f.volumeDriver ?? '',
      AutoRemove: f.rm === true,
      ContainerIDFile: f.cidfile ?? '',
      NetworkMode: networkMode,
      PortBindings: ports.bindings,
      PublishAllPorts: f.publishAll === true,
      Links: !userNetwork && f.link?.length ? f.link : null,
      RestartPolicy: parseRestart(f.restart ?? 'no'),
      Privileged: f.privileged === true,
      CapAdd: f.capAdd ?? null,
      CapDrop: f.capDrop ?? null,
      ReadonlyRootfs: f.readOnly === true,
      SecurityOpt: securityOptsField(f.securityOpt),
      ...(logConfig ? { LogConfig: logConfig } : {}),
      Init: f.init === true ? true : null,
      Runtime: f.runtime ?? '',
      Memory: f.memory ? ramInBytes(f.memory) : 0,
      NanoCpus: cpusFlag(f.cpus) ?? 0,
      CpuShares: f.cpuShares ? Number(f.cpuShares) : 0,
      PidsLimit: f.pidsLimit ? Number(f.pidsLimit) : null,
      Ulimits: f.ulimit?.map(parseUlimit) ?? null,
      Tmpfs: Object.keys(tmpfs).length ? tmpfs : null,
      Sysctls: f.sysctl ? kvMap(f.sysctl) : null,
      ShmSize: f.shmSize ? ramInBytes(f.shmSize) : 0,
      ExtraHosts: f.addHost ?? null,
      Dns: f.dns ?? null,
      DnsSearch: f.dnsSearch ?? null,
      DnsOptions: f.dnsOption ?? null,
      ConsoleSize: f.tty ? terminalSize() ?? [0, 0] : [0, 0],
    },
    NetworkingConfig: { EndpointsConfig: Object.keys(endpoint).length ? { [networkMode === 'default' ? 'bridge' : networkMode]: endpoint } : {} },
  };
}

/** `localhost:5000/app` → `localhost:5000/app:latest`, as docker names what it will pull. */
function impliedTag(image: string): string {
  try {
    return familiarString(withDefaultTag(parseNormalizedNamed(image)));
  } catch {
    return image;
  }
}

async function trustedImage(image: string, config?: string): Promise<string> {
  const { ref, digest } = await trustedDigest(trustContext(config), image).catch((e: unknown) => {
    throw e instanceof CliError ? new CliError(e.message, 125) : e;
  });
  return `${ref.name}@${digest}`;
}

/** create, pulling the image first when the daemon does not have it (docker's behaviour). */
async function createContainer(client: EngineClient, f: CreateFlags, image: string, command: string[], config?: string): Promise<{ id: string; body: Record<string, unknown> }> {
  if (f.cidfile && existsSync(f.cidfile)) throw new CliError(`Container ID file found, make sure the other container isn't running or delete ${f.cidfile}`, 125);
  // With content trust the container is made from the digest a trusted signature names (the docker CLI's TrustedReference).
  const trust = trustEnabled(f.disableContentTrust) && !/@/.test(image);
  const body = createBody(f, trust ? await trustedImage(image, config) : image, command);
  const query = { name: f.name, platform: f.platform };
  let res: { Id: string; Warnings?: string[] };
  try {
    res = await client.call('POST', '/containers/create', { query, body });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404 || !/No such image/.test(err.message) || f.pull === 'never') throw err;
    process.stderr.write(`Unable to find image '${impliedTag(image)}' locally\n`);
    await pullImage(client, image, { platform: f.platform, out: process.stderr, config, trust }).catch((e: unknown) => {
      throw e instanceof CliError ? new CliError(e.message, 125) : e;
    });
    res = await client.call('POST', '/containers/create', { query, body });
  }
  for (const w of res.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  if (f.cidfile) writeFileSync(f.cidfile, res.Id);
  return { id: res.Id, body };
}

interface AttachPlan {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  detachKeys?: string;
}

/**
 * Attaches to a container. Resolves once the stream is connected; `ended`
 * settles when its output ends (wrapped: an async function returning a bare
 * promise would wait for it).
 */
async function attachStreams(client: EngineClient, id: string, p: AttachPlan): Promise<{ ended: Promise<void>; detached: () => boolean }> {
  const { socket, contentType } = await client.hijack(`/containers/${id}/attach`, {
    query: { stream: true, stdin: p.stdin, stdout: p.stdout, stderr: p.stderr, detachKeys: p.detachKeys },
  });
  const raw = p.tty || contentType.includes('raw-stream');
  const ended = copyOutput(socket, raw);
  // On a tty the detach keys end the stream while the container runs on.
  const input = p.stdin ? pumpStdin(socket, p.tty ? detachKeyBytes(p.detachKeys) : undefined) : undefined;
  return { ended, detached: () => input?.detached() === true };
}

/**
 * A wait for the container's exit (`condition`: next-exit, or removed for
 * --rm), registered, and its attach, sent together: one round trip, and both
 * before the start, so a fast exit is never missed.
 */
async function waitAndAttach(client: EngineClient, id: string, p: AttachPlan, condition: 'next-exit' | 'removed' = 'next-exit'): Promise<{
  output: Awaited<ReturnType<typeof attachStreams>>;
  waited: Promise<{ StatusCode: number; Error?: { Message: string } | null }>;
}> {
  const waitRes = client.stream('POST', `/containers/${id}/wait`, { query: { condition } });
  const waited = waitRes.then(async (res) => {
    let text = '';
    for await (const c of res) text += String(c);
    return JSON.parse(text) as { StatusCode: number; Error?: { Message: string } | null };
  });
  waited.catch(() => {});
  const [output] = await Promise.all([attachStreams(client, id, p), waitRes]);
  return { output, waited };
}

function exitCodeFromStartError(err: unknown): number {
  const msg = err instanceof Error ? err.message : '';
  if (/executable file not found|no such file or directory/.test(msg)) return 127;
  if (/permission denied/.test(msg)) return 126;
  return 125;
}

export function registerRunCommands(program: Command, group?: Command): void {
  for (const parent of group ? [program, group] : [program]) defineRunCommands(parent);
}

function defineRunCommands(program: Command): void {
  addCreateFlags(program.command('run'))
    .description('Create and run a new container from an image')
    .option('-d, --detach', 'Run container in background and print container ID')
    .option('--rm', 'Automatically remove the container when it exits')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .addOption(new Option('--sig-proxy [bool]', 'Proxy received signals to the process').default(true))
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions()
    .action(async (image: string, command: string[], f: CreateFlags, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      // docker run fails with 125 when the daemon refuses to create the container.
      const { id, body } = await createContainer(client, f, image, command, globals(cmd).config).catch((err: unknown) => {
        throw err instanceof ApiError ? new CliError(`berth: Error response from daemon: ${err.message}`, 125) : err;
      });
      if (f.detach) {
        await client.status('POST', `/containers/${id}/start`).catch((err: unknown) => {
          throw new CliError(`berth: ${err instanceof ApiError ? 'Error response from daemon: ' : ''}${(err as Error).message}`, exitCodeFromStartError(err));
        });
        process.stdout.write(id + '\n');
        return;
      }
      const plan: AttachPlan = { stdin: body.AttachStdin === true, stdout: body.AttachStdout === true, stderr: body.AttachStderr === true, tty: f.tty === true, detachKeys: detachKeysFor(f.detachKeys, cmd) };
      const code = await withRawTerminal(plan.tty && plan.stdin, async () => {
        const { output, waited } = await waitAndAttach(client, id, plan, f.rm ? 'removed' : 'next-exit');
        try {
          await client.status('POST', `/containers/${id}/start`);
        } catch (err) {
          throw new CliError(`berth: ${err instanceof ApiError ? 'Error response from daemon: ' : ''}${(err as Error).message}`, exitCodeFromStartError(err));
        }
        const stopResize = plan.tty ? followResize((h, w) => client.status('POST', `/containers/${id}/resize`, { query: { h, w } })) : () => {};
        await output.ended;
        stopResize();
        if (output.detached()) return 0;
        const st = await waited;
        if (st.Error?.Message) process.stderr.write(`berth: ${st.Error.Message}\n`);
        return st.StatusCode;
      });
      process.stdin.pause();
      if (code !== 0) throw new StatusError(code);
    });

  addCreateFlags(program.command('create'))
    .description('Create a new container')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions()
    .action(async (image: string, command: string[], f: CreateFlags, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const { id } = await createContainer(client, { ...f, detach: true }, image, command, globals(cmd).config);
      process.stdout.write(id + '\n');
    });

  program.command('start')
    .description('Start one or more stopped containers')
    .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
    .option('-i, --interactive', "Attach container's STDIN")
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .argument('<container...>')
    .action(async (ids: string[], f: { attach?: boolean; interactive?: boolean; detachKeys?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      if (f.attach || f.interactive) {
        if (ids.length > 1) throw new CliError('you cannot start and attach multiple containers at once', 1);
        const inspected = client.call<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean } }>('GET', `/containers/${ids[0]}/json`);
        // Without stdin nothing of the attach depends on the container's config
        // (a tty's raw stream is told by its content type): the inspect, the
        // attach and the wait go together, one round trip, not three.
        const early = f.interactive ? undefined : waitAndAttach(client, ids[0], { stdin: false, stdout: true, stderr: true, tty: false });
        early?.catch(() => {});
        const info = await inspected;
        const plan: AttachPlan = { stdin: f.interactive === true && info.Config.OpenStdin, stdout: true, stderr: true, tty: info.Config.Tty, detachKeys: detachKeysFor(f.detachKeys, cmd) };
        const code = await withRawTerminal(plan.tty && plan.stdin, async () => {
          // Both registered before the start, so a fast exit is never missed.
          const { output, waited } = await (early ?? waitAndAttach(client, info.Id, plan));
          await client.status('POST', `/containers/${info.Id}/start`);
          const stopResize = plan.tty ? followResize((h, w) => client.status('POST', `/containers/${info.Id}/resize`, { query: { h, w } })) : () => {};
          await output.ended;
          stopResize();
          if (output.detached()) return 0;
          return (await waited).StatusCode;
        });
        process.stdin.pause();
        if (code !== 0) throw new StatusError(code);
        return;
      }
      let failed = 0;
      for (const id of ids) {
        try {
          await client.status('POST', `/containers/${id}/start`);
          process.stdout.write(id + '\n');
        } catch (err) {
          failed++;
          process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
        }
      }
      if (failed) throw new CliError(`Error: failed to start containers: ${ids.join(', ')}`, 1);
    });

  program.command('attach')
    .description('Attach local standard input, output, and error streams to a running container')
    .option('--no-stdin', 'Do not attach STDIN')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .option('--sig-proxy', 'Proxy all received signals to the process', true)
    .argument('<container>')
    .action(async (ref: string, f: { stdin: boolean; detachKeys?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const info = await client.call<{ Id: string; State: { Running: boolean; Paused: boolean }; Config: { Tty: boolean; OpenStdin: boolean } }>('GET', `/containers/${ref}/json`);
      if (!info.State.Running) throw new CliError('You cannot attach to a stopped container, start it first', 1);
      if (info.State.Paused) throw new CliError('You cannot attach to a paused container, unpause it first', 1);
      const plan: AttachPlan = { stdin: f.stdin && info.Config.OpenStdin, stdout: true, stderr: true, tty: info.Config.Tty, detachKeys: detachKeysFor(f.detachKeys, cmd) };
      const code = await withRawTerminal(plan.tty && plan.stdin, async () => {
        const output = await attachStreams(client, info.Id, plan);
        const stopResize = plan.tty ? followResize((h, w) => client.status('POST', `/containers/${info.Id}/resize`, { query: { h, w } })) : () => {};
        await output.ended;
        stopResize();
        if (output.detached()) throw new CliError('read escape sequence', 1);
        const st = await client.call<{ State: { Running: boolean; ExitCode: number } }>('GET', `/containers/${info.Id}/json`);
        return st.State.Running ? 0 : st.State.ExitCode;
      });
      process.stdin.pause();
      if (code !== 0) throw new StatusError(code);
    });

  program.command('exec')
    .description('Execute a command in a running container')
    .option('-d, --detach', 'Detached mode: run command in the background')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .option('-e, --env <env>', 'Set environment variables', collect)
    .option('--env-file <file>', 'Read in a file of environment variables', collect)
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('--privileged', 'Give extended privileges to the command')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-u, --user <user>', 'Username or UID (format: "<name|uid>[:<group|gid>]")')
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .action(async (ref: string, command: string[], f: { detach?: boolean; detachKeys?: string; env?: string[]; envFile?: string[]; interactive?: boolean; privileged?: boolean; tty?: boolean; user?: string; workdir?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const tty = f.tty === true;
      const body = {
        User: f.user ?? '', Privileged: f.privileged === true, Tty: tty,
        AttachStdin: f.interactive === true && !f.detach, AttachStdout: !f.detach, AttachStderr: !f.detach,
        DetachKeys: detachKeysFor(f.detachKeys, cmd) ?? '', Env: envList({ env: f.env, envFile: f.envFile }), WorkingDir: f.workdir ?? '', Cmd: command,
        ConsoleSize: tty ? terminalSize() ?? null : null,
      };
      const { Id } = await client.call<{ Id: string }>('POST', `/containers/${ref}/exec`, { body });
      if (f.detach) {
        await client.status('POST', `/exec/${Id}/start`, { body: { Detach: true, Tty: tty } });
        return;
      }
      const code = await withRawTerminal(tty && body.AttachStdin, async () => {
        const { socket } = await client.hijack(`/exec/${Id}/start`, { body: { Detach: false, Tty: tty, ConsoleSize: body.ConsoleSize } });
        const done = copyOutput(socket, tty);
        if (body.AttachStdin) pumpStdin(socket);
        const stopResize = tty ? followResize((h, w) => client.status('POST', `/exec/${Id}/resize`, { query: { h, w } })) : () => {};
        await done;
        stopResize();
        const ins = await client.call<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${Id}/json`);
        return ins.ExitCode ?? 0;
      });
      process.stdin.pause();
      if (code !== 0) throw new StatusError(code);
    });
}
