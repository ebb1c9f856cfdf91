// The CLI: docker's command tree, flags and exit codes, on commander.
import { Command, CommanderError, Option } from 'commander';
import { CliError, describeError, keepConnections } from './context.ts';
import { registerContainerCommands } from './commands/containers.ts';
import { registerImageCommands } from './commands/images.ts';
import { registerArchiveCommands } from './commands/image-archive.ts';
import { registerImageUsageCommands } from './commands/image-usage.ts';
import { registerRunCommands } from './commands/run.ts';
import { booleanFlagValues, collect } from './options.ts';
import { COMPOSE_VERSION } from '../compose/version.ts';
import { followPluginSocket } from './plugin-socket.ts';
import { registerSystemCommands } from './commands/system.ts';
import { registerCommitCommands } from './commands/commit.ts';
import { registerBuildCommands } from './commands/build.ts';
import { registerNetworkCommands } from './commands/network.ts';
import { registerVolumeCommands } from './commands/volume.ts';
import { registerSwarmCommands } from './commands/swarm.ts';
import { registerNodeCommands } from './commands/node.ts';
import { registerServiceCommands } from './commands/service.ts';
import { registerSecretConfigCommands } from './commands/secret-config.ts';
import { registerStackCommands } from './commands/stack.ts';
import { registerContextCommands } from './commands/context.ts';
import { registerDialStdioCommands } from './commands/dial-stdio.ts';
import { registerUiCommands } from './commands/ui.ts';
import { registerMachineCommands } from './commands/machine.ts';
import { registerRegistryCommands } from './commands/registry.ts';
import { registerTrustCommands } from './commands/trust.ts';
import { registerObserveCommands } from './commands/observe.ts';
import { registerUpdateCommands } from './commands/update.ts';
import { registerPruneCommands } from './commands/prune.ts';
import { registerCpCommands } from './commands/cp.ts';
import { registerComposeInspectCommands } from './commands/compose-inspect.ts';
import { registerComposeFollowCommands } from './commands/compose-follow.ts';
import { registerComposeExecCommands } from './commands/compose-exec.ts';
import { registerComposeRunCommands } from './commands/compose-run.ts';
import { registerComposeWatchCommands } from './commands/compose-watch.ts';
import { addProjectFlags } from './compose-project.ts';
import { registerComposeConfigCommands } from './commands/compose-config.ts';
import { registerComposeLifecycleCommands } from './commands/compose-lifecycle.ts';

/** Flag errors end with docker's status 125 and its hint line. */
function configure(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({
    writeErr: (s) => process.stderr.write(s),
    outputError: (s, write) => {
      const unknown = /^error: unknown command '(.*)'/.exec(s);
      if (unknown) {
        // The docker CLI's wording; the group is named for a subcommand (`berth image frob`).
        const path = cmd.parent ? `berth ${cmd.name()}` : 'berth';
        write(`berth: '${unknown[1]}' is not a ${path} command.\nSee '${path} --help'\n`);
        return;
      }
      const msg = s.replace(/^error: /, '').trim()
        .replace(/^unknown option '(.*)'$/, 'unknown flag: $1')
        .replace(/^too many arguments.*$/, `"${cmd.name()}" accepts fewer arguments`);
      write(`berth: ${msg}\nSee 'berth ${cmd.parent && cmd.parent.name() !== 'berth' ? cmd.parent.name() + ' ' : ''}${cmd.name()} --help'.\n`);
    },
  });
  for (const sub of cmd.commands) configure(sub);
}

export function buildProgram(): Command {
  const program = new Command('berth');
  program
    .description('A Docker-compatible container engine')
    .enablePositionalOptions()
    .addOption(new Option('-H, --host <host>', 'Daemon socket to connect to').argParser(collect))
    .option('--tls', 'Use TLS; implied by --tlsverify')
    .option('--tlsverify', 'Use TLS and verify the remote')
    .option('--tlscacert <path>', 'Trust certs signed only by this CA')
    .option('--tlscert <path>', 'Path to TLS certificate file')
    .option('--tlskey <path>', 'Path to TLS key file')
    .option('-D, --debug', 'Enable debug mode')
    .option('-l, --log-level <level>', 'Set the logging level', 'info')
    .option('--config <dir>', 'Location of client config files')
    .option('-c, --context <name>', 'Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "docker context use")')
    .option('-v, --version', 'Print version information and quit');

  // Groups are made here so that each command module stands alone.
  const containerGroup = program.command('container').description('Manage containers');
  registerRunCommands(program, containerGroup);
  registerContainerCommands(program, containerGroup);
  registerObserveCommands(program, containerGroup);
  registerUpdateCommands(program, containerGroup);
  registerCpCommands(program, containerGroup);
  const imageGroup = program.command('image').description('Manage images');
  registerImageCommands(program, imageGroup);
  registerArchiveCommands(program);
  registerArchiveCommands(imageGroup);
  registerImageUsageCommands(imageGroup, program);
  registerRegistryCommands(program);
  registerTrustCommands(program);
  registerSystemCommands(program);
  registerCommitCommands(program);
  const builderGroup = program.command('builder').description('Manage builds');
  registerBuildCommands(program, builderGroup);
  registerPruneCommands(program, builderGroup);
  registerNetworkCommands(program);
  registerVolumeCommands(program);
  registerSwarmCommands(program);
  registerNodeCommands(program);
  registerServiceCommands(program);
  registerSecretConfigCommands(program);
  registerStackCommands(program);
  registerContextCommands(program);
  registerDialStdioCommands(program);
  registerUiCommands(program);
  registerMachineCommands(program);
  // Compose's subcommands register on this group and load their project with resolveProject (src/cli/compose-project.ts).
  const composeGroup = addProjectFlags(program.command('compose').description('Docker Compose'));
  composeGroup.hook('preSubcommand', () => keepConnections());
  registerComposeConfigCommands(composeGroup);
  registerComposeInspectCommands(composeGroup);
  registerComposeFollowCommands(composeGroup);
  registerComposeExecCommands(composeGroup);
  registerComposeRunCommands(composeGroup);
  registerComposeWatchCommands(composeGroup);
  registerComposeLifecycleCommands(composeGroup);

  program.command('daemon').description('Run the berth daemon (see berth daemon --help)').allowUnknownOption().helpOption(false);
  program.command('registry').description('Run an OCI distribution registry (see berth registry --help)').allowUnknownOption().helpOption(false);
  configure(program);
  return program;
}

/** Runs one command line; `program` may be built ahead (the startup snapshot does). */
export async function cliMain(argv: string[], program: Command = buildProgram()): Promise<number> {
  // The docker CLI asks each plugin for this before running it (berth is its `compose` plugin).
  if (argv[0] === 'docker-cli-plugin-metadata') {
    process.stdout.write(JSON.stringify({ SchemaVersion: '0.1.0', Vendor: 'berth', Version: COMPOSE_VERSION, ShortDescription: 'Docker Compose' }) + '\n');
    return 0;
  }
  // Run by the docker CLI as its plugin: usage lines say `docker compose …`, as the user typed.
  if (process.env.DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND) program.name('docker');
  followPluginSocket(process.env.DOCKER_CLI_PLUGIN_SOCKET);
  if (argv[0] === '-v' || argv[0] === '--version') {
    process.stdout.write('berth version 0.1.0\n');
    return 0;
  }
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(booleanFlagValues(program, argv), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
      return err.code === 'commander.unknownCommand' ? 1 : 125;
    }
    const { message, code } = describeError(err);
    if (message) process.stderr.write(message.endsWith('\n') ? message : message + '\n');
    return code;
  }
}

export { CliError };
