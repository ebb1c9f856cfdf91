// `machine create|ls|inspect|env|ssh|start|stop|restart|regenerate-certs|rm`:
// docker-machine's commands for berth hosts reached over SSH (src/machine/).
// A machine is also a context of the docker CLI's store, named as the machine,
// so `berth -c NAME` and `docker --context NAME` reach it.
import type { Command } from 'commander';
import { CliError, StatusError } from '../context.ts';
import { ContextStore, checkName } from '../context-store.ts';
import { selectedContext } from '../docker-contexts.ts';
import { globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { parseTemplate, TemplateError } from '../format/template.ts';
import { goJson } from '../output.ts';
import { confirm } from '../prompt.ts';
import { MachineError, MachineStore, checkMachineName, type MachineConfig } from '../../machine/store.ts';
import { clientTls, createMachine, forgetHost, machineState, machineUrl, regenerateCerts, serviceAction, targetOf, uninstall } from '../../machine/provision.ts';
import { detectShell, envLines, unsetLines } from '../../machine/env.ts';
import { sshInteractive } from '../../machine/ssh.ts';

/** Machine errors are final words: exit 1 with the message. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MachineError) throw new CliError(err.message, 1);
    throw err;
  }
}

function contextFor(store: MachineStore, c: MachineConfig): Parameters<ContextStore['write']> {
  const tls = clientTls(store.dir(c.Name));
  return [
    { Name: c.Name, Metadata: { Description: `berth machine ${c.Name}` }, Endpoints: { docker: { Host: machineUrl(c), SkipTLSVerify: false } } },
    { docker: { 'ca.pem': tls.ca, 'cert.pem': tls.cert, 'key.pem': tls.key } },
  ];
}

/** The context this tool made for the machine (not one the user made under the same name since). */
function ownsContext(contexts: ContextStore, c: MachineConfig): boolean {
  if (!contexts.exists(c.Name)) return false;
  try {
    return contexts.read(c.Name).Endpoints.docker?.Host === machineUrl(c);
  } catch {
    return false;
  }
}

function isActive(contexts: ContextStore, c: MachineConfig, config: string | undefined): boolean {
  const host = process.env.DOCKER_HOST;
  if (host) return host === machineUrl(c);
  return selectedContext(undefined, config) === c.Name && ownsContext(contexts, c);
}

function names(store: MachineStore, given: string[]): MachineConfig[] {
  if (given.length === 0) throw new CliError('Error: No machine name(s) specified', 1);
  return given.map((n) => store.load(n));
}

export function registerMachineCommands(program: Command): void {
  const machine = program.command('machine').description('Provision berth hosts over SSH and point clients at them').enablePositionalOptions();

  machine.command('create')
    .description('Create a machine: install berth on a Debian host over SSH')
    .option('-d, --driver <driver>', 'Driver to create machine with', 'ssh')
    .option('--ssh-host <host>', 'Address of the host')
    .option('--ssh-user <user>', 'SSH user', 'root')
    .option('--ssh-port <port>', 'SSH port', '22')
    .option('--ssh-key <path>', 'SSH private key (else OpenSSH\'s own choice: agent, ~/.ssh)')
    .option('--install-method <method>', 'script (the install script, on the host), copy (this host\'s build), or auto (script when the host reaches the apt mirror and npm\'s registry, trusting its HTTPS certificate)', 'auto')
    .argument('[name]')
    .action(async (name: string | undefined, f: { driver: string; sshHost?: string; sshUser: string; sshPort: string; sshKey?: string; installMethod: string }, cmd: Command) => {
      if (!name) throw new CliError('Error: No machine name specified', 1);
      if (f.driver !== 'ssh' && f.driver !== 'generic') throw new CliError(`Driver "${f.driver}" not found. Do you have the plugin binary "berth-machine-driver-${f.driver}" accessible in your PATH?`, 1);
      if (!f.sshHost) throw new CliError('Error creating machine: --ssh-host is required', 1);
      const port = Number(f.sshPort);
      if (!/^\d+$/.test(f.sshPort) || port < 1 || port > 65535) throw new CliError(`Error creating machine: invalid --ssh-port "${f.sshPort}"`, 1);
      const installMethod = f.installMethod;
      if (installMethod !== 'script' && installMethod !== 'copy' && installMethod !== 'auto') {
        throw new CliError(`Error creating machine: invalid --install-method "${installMethod}": script, copy or auto`, 1);
      }
      await guarded(async () => {
        checkMachineName(name);
        const store = new MachineStore();
        const contexts = new ContextStore(globals(cmd).config);
        if (store.exists(name)) throw new MachineError(`Host already exists: "${name}"`);
        try {
          checkName(name);
        } catch (err) {
          throw new MachineError(`Error creating machine: ${(err as Error).message}`);
        }
        if (contexts.exists(name)) throw new MachineError(`Error creating machine: context "${name}" already exists; remove it or choose another name`);
        const c = await createMachine(store, {
          name, host: f.sshHost!, user: f.sshUser, port, key: f.sshKey, installMethod,
          log: (line) => process.stdout.write(line + '\n'),
        });
        try {
          contexts.write(...contextFor(store, c));
        } catch (err) {
          store.remove(name);
          await uninstall(c).catch(() => undefined);
          throw new MachineError(`Error creating machine: writing context "${name}": ${(err as Error).message}`);
        }
        process.stdout.write(`To point your client at this machine: berth -c ${name} …, or run: berth machine env ${name}\n`);
      });
    });

  machine.command('ls')
    .description('List machines')
    .option('-q, --quiet', 'Enable quiet mode')
    .option('-f, --format <format>', 'Pretty-print machines using a Go template')
    .option('-t, --timeout <seconds>', 'Timeout in seconds for a daemon to answer', '10')
    .action(async (f: { quiet?: boolean; format?: string; timeout: string }, cmd: Command) => {
      const store = new MachineStore();
      const contexts = new ContextStore(globals(cmd).config);
      const configs = store.names().map((n) => store.load(n));
      if (f.quiet) {
        process.stdout.write(configs.map((c) => c.Name + '\n').join(''));
        return;
      }
      const ms = Math.max(1, Number(f.timeout) || 10) * 1000;
      const rows = await Promise.all(configs.map(async (c) => {
        const s = await machineState(store, c, ms).catch((err: Error) => ({ state: 'Error' as const, error: err.message }));
        return {
          Name: c.Name,
          Active: isActive(contexts, c, globals(cmd).config) ? '*' : '-',
          DriverName: c.DriverName,
          State: s.state,
          URL: s.state === 'Running' ? machineUrl(c) : '',
          BerthVersion: s.state === 'Running' ? `v${s.version}` : 'Unknown',
          Error: s.state === 'Running' ? '' : s.error,
        };
      }));
      const format = f.format ?? 'table {{.Name}}\t{{.Active}}\t{{.DriverName}}\t{{.State}}\t{{.URL}}\t{{.BerthVersion}}\t{{.Error}}';
      process.stdout.write(formatRows(format, rows, { headers: { Name: 'NAME', Active: 'ACTIVE', DriverName: 'DRIVER', State: 'STATE', URL: 'URL', BerthVersion: 'BERTH-VERSION', Error: 'ERRORS' } }));
    });

  machine.command('inspect')
    .description('Inspect information about a machine')
    .option('-f, --format <format>', 'Format the output using the given go template')
    .argument('<name>')
    .action((name: string, f: { format?: string }) => guarded(async () => {
      const c = new MachineStore().load(name);
      if (!f.format) {
        process.stdout.write(goJson(c, '    ') + '\n');
        return;
      }
      try {
        process.stdout.write(parseTemplate(f.format.replace(/\\n/g, '\n').replace(/\\t/g, '\t')).execute(c) + '\n');
      } catch (err) {
        if (err instanceof TemplateError) throw new CliError(`Template parsing error: ${err.message}`, 1);
        throw err;
      }
    }));

  machine.command('env')
    .description('Display the commands to set up the environment for the berth or docker client')
    .option('--shell <shell>', 'Force environment to be configured for a specified shell: [fish, cmd, powershell, tcsh, emacs], default is auto-detect')
    .option('-u, --unset', 'Unset variables instead of setting them')
    .argument('[name]')
    .action((name: string | undefined, f: { shell?: string; unset?: boolean }) => guarded(async () => {
      const { shell, guessed } = detectShell(f.shell, process.env.SHELL);
      if (guessed) process.stderr.write("The default lines below are for a sh/bash shell, you can specify the shell you're using, with the --shell flag.\n\n");
      const flags = f.shell ? ` --shell ${f.shell}` : '';
      if (f.unset) {
        if (name) throw new CliError('Error: Expected no machine name when the -u flag is present', 1);
        process.stdout.write(unsetLines(shell, `berth machine env${flags} --unset`));
        return;
      }
      if (!name) throw new CliError('Error: No machine name specified', 1);
      const store = new MachineStore();
      const c = store.load(name);
      // As docker-machine: the lines are printed only for a daemon that answers with these certificates.
      const s = await machineState(store, c);
      if (s.state !== 'Running') throw new CliError(`Error checking TLS connection: ${s.error || `the berth daemon of "${name}" is not running`}`, 1);
      process.stdout.write(envLines(shell, {
        DOCKER_TLS_VERIFY: '1',
        DOCKER_HOST: machineUrl(c),
        DOCKER_CERT_PATH: store.dir(name),
        DOCKER_MACHINE_NAME: name,
      }, `berth machine env${flags} ${name}`));
    }));

  machine.command('ssh')
    .description('Log into or run a command on a machine with SSH')
    .argument('<name>')
    .argument('[command...]')
    .passThroughOptions()
    .action((name: string, command: string[]) => guarded(async () => {
      const c = new MachineStore().load(name);
      const code = sshInteractive(targetOf(c), command);
      if (code !== 0) throw new StatusError(code);
    }));

  const lifecycle: [string, 'start' | 'stop' | 'restart', string, string][] = [
    ['start', 'start', 'Starting', 'started'],
    ['stop', 'stop', 'Stopping', 'stopped'],
    ['restart', 'restart', 'Restarting', 'restarted'],
  ];
  for (const [verb, action, ing, done] of lifecycle) {
    machine.command(verb)
      .description(`${verb[0].toUpperCase()}${verb.slice(1)} the berth daemon of a machine`)
      .argument('[names...]')
      .action((given: string[]) => guarded(async () => {
        const store = new MachineStore();
        for (const c of names(store, given)) {
          process.stdout.write(`${ing} "${c.Name}"...\n`);
          await serviceAction(store, c, action);
          process.stdout.write(`Machine "${c.Name}" was ${done}.\n`);
        }
      }));
  }

  machine.command('regenerate-certs')
    .description('Regenerate TLS certificates for a machine')
    .option('-f, --force', 'Force rebuild and do not prompt')
    .option('--client-certs', 'Also regenerate the CA and client certificate (the old client certificate stops working)')
    .argument('[names...]')
    .action((given: string[], f: { force?: boolean; clientCerts?: boolean }, cmd: Command) => guarded(async () => {
      const store = new MachineStore();
      const configs = names(store, given);
      if (!f.force && !(await confirm('Regenerate TLS machine certs?  Warning: this is irreversible.'))) return;
      const contexts = new ContextStore(globals(cmd).config);
      for (const c of configs) {
        process.stdout.write(`Regenerating TLS certificates for ${c.Name}\n`);
        const owned = ownsContext(contexts, c);
        await regenerateCerts(store, c, f.clientCerts === true);
        if (owned) contexts.write(...contextFor(store, c));
      }
    }));

  machine.command('rm')
    .description('Remove a machine: stop its daemon and uninstall berth from the host, then forget it')
    .option('-f, --force', 'Remove local configuration even if the host cannot be reached, also implies an automatic yes (`-y`)')
    .option('-y', 'Assumes automatic yes to proceed with remove, without prompting further user confirmation')
    .argument('[names...]')
    .action((given: string[], f: { force?: boolean; y?: boolean }, cmd: Command) => guarded(async () => {
      const store = new MachineStore();
      const configs = names(store, given);
      if (!f.force && !f.y) {
        process.stdout.write(`About to remove ${configs.map((c) => c.Name).join(', ')}\nWARNING: This action will delete both local reference and remote instance.\n`);
        if (!(await confirm('Are you sure?'))) return;
      }
      const contexts = new ContextStore(globals(cmd).config);
      const failed: string[] = [];
      for (const c of configs) {
        try {
          await uninstall(c);
        } catch (err) {
          if (!f.force) {
            failed.push((err as Error).message);
            continue;
          }
        }
        if (ownsContext(contexts, c)) {
          if (contexts.current() === c.Name) contexts.setCurrent('default');
          contexts.remove(c.Name);
        }
        store.remove(c.Name);
        forgetHost(store, c);
        process.stdout.write(`Successfully removed ${c.Name}\n`);
      }
      if (failed.length) throw new CliError(failed.join('\n'), 1);
    }));
}
