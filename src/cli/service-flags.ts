// The flags of `service create|update`, as the docker CLI declares them: the
// ones both share, create's lists, update's -add/-rm pairs.
import { Option, type Command } from 'commander';
import { collect } from './options.ts';

/** The flags create and update share (addServiceFlags). */
export function addServiceFlags(cmd: Command): Command {
  const o = (flags: string, desc: string, repeat = false) => cmd.addOption(repeat ? new Option(flags, desc).argParser(collect) : new Option(flags, desc));
  o('-d, --detach', 'Exit immediately instead of waiting for the service to converge');
  o('-q, --quiet', 'Suppress progress output');
  o('-w, --workdir <string>', 'Working directory inside the container');
  o('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])');
  o('--hostname <string>', 'Container hostname');
  o('--entrypoint <command>', 'Overwrite the default ENTRYPOINT of the image');
  o('--init', 'Use an init inside each service container to forward signals and reap processes');
  o('--limit-cpu <decimal>', 'Limit CPUs');
  o('--limit-memory <bytes>', 'Limit Memory');
  o('--limit-pids <int>', 'Limit maximum number of processes (default 0 = unlimited)');
  o('--reserve-cpu <decimal>', 'Reserve CPUs');
  o('--reserve-memory <bytes>', 'Reserve Memory');
  o('--stop-grace-period <duration>', 'Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)');
  o('--stop-signal <string>', 'Signal to stop the container');
  o('--replicas <uint>', 'Number of tasks');
  o('--replicas-max-per-node <uint>', 'Maximum number of tasks per node (default 0 = unlimited)');
  o('--max-concurrent <uint>', 'Number of job tasks to run concurrently (default equal to --replicas)');
  o('--restart-condition <string>', 'Restart when condition is met ("none", "on-failure", "any") (default "any")');
  o('--restart-delay <duration>', 'Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)');
  o('--restart-max-attempts <uint>', 'Maximum number of restarts before giving up');
  o('--restart-window <duration>', 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)');
  for (const kind of ['update', 'rollback']) {
    const what = kind === 'update' ? 'updates' : 'rollbacks';
    o(`--${kind}-parallelism <uint>`, `Maximum number of tasks ${kind === 'update' ? 'updated' : 'rolled back'} simultaneously (0 to ${kind} all at once) (default 1)`);
    o(`--${kind}-delay <duration>`, `Delay between ${what} (ns|us|ms|s|m|h) (default 0s)`);
    o(`--${kind}-monitor <duration>`, `Duration after each task ${kind} to monitor for failure (ns|us|ms|s|m|h) (default 5s)`);
    o(`--${kind}-failure-action <string>`, `Action on ${kind} failure ("pause", "continue"${kind === 'update' ? ', "rollback"' : ''}) (default "pause")`);
    o(`--${kind}-max-failure-ratio <float>`, `Failure rate to tolerate during a${kind === 'update' ? 'n update' : ' rollback'}`);
    o(`--${kind}-order <string>`, `${kind === 'update' ? 'Update' : 'Rollback'} order ("start-first", "stop-first") (default "stop-first")`);
  }
  o('--endpoint-mode <string>', 'Endpoint mode (vip or dnsrr) (default "vip")');
  o('--with-registry-auth', 'Send registry authentication details to swarm agents');
  o('--no-resolve-image', 'Do not query the registry to resolve image digest and supported platforms');
  o('--log-driver <string>', 'Logging driver for service');
  o('--log-opt <list>', 'Logging driver options', true);
  o('--health-cmd <string>', 'Command to run to check health');
  o('--health-interval <duration>', 'Time between running the check (ms|s|m|h)');
  o('--health-timeout <duration>', 'Maximum time to allow one check to run (ms|s|m|h)');
  o('--health-retries <int>', 'Consecutive failures needed to report unhealthy');
  o('--health-start-period <duration>', 'Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)');
  o('--health-start-interval <duration>', 'Time between running the check during the start period (ms|s|m|h)');
  o('--no-healthcheck', 'Disable any container-specified HEALTHCHECK');
  o('-t, --tty', 'Allocate a pseudo-TTY');
  o('--read-only', "Mount the container's root filesystem as read only");
  o('--cap-add <list>', 'Add Linux capabilities', true);
  o('--cap-drop <list>', 'Drop Linux capabilities', true);
  o('--oom-score-adj <int>', 'Tune host\'s OOM preferences (-1000 to 1000)');
  o('--isolation <string>', 'Service container isolation mode');
  return cmd;
}

/** The flags only create has (a list each; update has -add/-rm pairs instead). */
export function addCreateFlags(cmd: Command): Command {
  const r = (flags: string, desc: string) => cmd.addOption(new Option(flags, desc).argParser(collect));
  cmd.option('--name <string>', 'Service name');
  cmd.option('--mode <string>', 'Service mode ("replicated", "global", "replicated-job", "global-job") (default "replicated")');
  r('-e, --env <list>', 'Set environment variables');
  r('--env-file <list>', 'Read in a file of environment variables');
  r('-l, --label <list>', 'Service labels');
  r('--container-label <list>', 'Container labels');
  r('--constraint <list>', 'Placement constraints');
  r('--placement-pref <pref>', 'Add a placement preference');
  r('-p, --publish <port>', 'Publish a port as a node port');
  r('--mount <mount>', 'Attach a filesystem mount to the service');
  r('--network <network>', 'Network attachments');
  r('--secret <secret>', 'Specify secrets to expose to the service');
  r('--config <config>', 'Specify configurations to expose to the service');
  r('--group <list>', 'Set one or more supplementary user groups for the container');
  r('--host <list>', 'Set one or more custom host-to-IP mappings (host:ip)');
  r('--dns <list>', 'Set custom DNS servers');
  r('--dns-option <list>', 'Set DNS options');
  r('--dns-search <list>', 'Set custom DNS search domains');
  r('--sysctl <list>', 'Sysctl options');
  r('--ulimit <ulimit>', 'Ulimit options');
  return cmd;
}

/** The -add/-rm flags of update. */
export function addUpdateFlags(cmd: Command): Command {
  const r = (flags: string, desc: string) => cmd.addOption(new Option(flags, desc).argParser(collect));
  cmd.option('--image <string>', 'Service image tag');
  cmd.option('--args <command>', 'Service command args');
  cmd.option('--rollback', 'Rollback to previous specification');
  cmd.option('--force', 'Force update even if no changes require it');
  for (const [name, desc] of [['env', 'environment variables'], ['label', 'service labels'], ['container-label', 'container labels'], ['constraint', 'placement constraints'],
    ['placement-pref', 'placement preferences'], ['publish', 'published ports'], ['mount', 'mounts'], ['network', 'networks'], ['secret', 'secrets'], ['config', 'configurations'],
    ['group', 'supplementary user groups'], ['host', 'custom host-to-IP mappings'], ['dns', 'custom DNS servers'], ['dns-option', 'DNS options'],
    ['dns-search', 'custom DNS search domains'], ['sysctl', 'sysctl options'], ['ulimit', 'ulimit options']] as const) {
    r(`--${name}-add <value>`, `Add or update ${desc}`);
    r(`--${name}-rm <value>`, `Remove ${desc}`);
  }
  return cmd;
}
