// `berth registry ...`: serve, gc and repository metadata. The main berth CLI
// dispatches here with the arguments after "registry".
import { loadConfig, insecureListenProblem, ConfigError, parseDuration, type RegistryConfig } from './config.ts';
import { startRegistry } from './server.ts';
import { Storage } from './storage.ts';
import { Logger } from './log.ts';
import { garbageCollect, DEFAULT_GRACE_MS } from './gc.ts';
import { checkName } from './names.ts';
import { RegistryError } from './errors.ts';

const USAGE = `Usage: berth registry COMMAND

An OCI distribution registry (reads the CNCF registry's config.yml format).

Commands:
  serve [CONFIG] [--allow-insecure-http]
        Serve the registry (default: storage in /var/lib/berth-registry, 127.0.0.1:5000)
  gc [--dry-run] [--grace-period DURATION] [CONFIG]
        Delete blobs no manifest references (alias: garbage-collect)
  meta get REPOSITORY [CONFIG]
  meta set REPOSITORY [--description TEXT] [--stars N] [CONFIG]
        Show or set the description and star count search reports
`;

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[], withValue: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) flags.set(name, a.slice(eq + 1));
      else if (withValue.includes(name)) {
        if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
        flags.set(name, argv[++i]);
      } else flags.set(name, true);
    } else if (a === '-h') {
      flags.set('help', true);
    } else {
      positional.push(a);
    }
  }
  return { positional, flags };
}

class UsageError extends Error {}

function checkFlags(p: Parsed, allowed: string[]): void {
  for (const f of p.flags.keys()) if (f !== 'help' && !allowed.includes(f)) throw new UsageError(`unknown option --${f}`);
}

/**
 * The last guard, as the daemon has: an error no handler caught is a bug,
 * logged with the line tests look for (`fatal: uncaught`), and the registry
 * keeps serving its other clients; only when such errors keep coming does it
 * exit, as its state is then suspect (the store itself is consistent on disk).
 */
function guardProcess(log: Logger): void {
  const recent: number[] = [];
  const report = (kind: string, err: unknown): void => {
    log.error(`fatal: uncaught ${kind}`, { error: err instanceof Error ? String(err.stack) : String(err) });
    const now = Date.now();
    recent.push(now);
    while (recent.length > 0 && recent[0] < now - 60_000) recent.shift();
    if (recent.length >= 10) {
      log.error('fatal: uncaught errors keep coming, exiting', { count: recent.length });
      process.exit(70);
    }
  };
  process.on('uncaughtException', (err) => report('exception', err));
  process.on('unhandledRejection', (reason) => report('rejection', reason));
}

async function serve(argv: string[]): Promise<number> {
  const p = parseArgs(argv, []);
  checkFlags(p, ['allow-insecure-http']);
  if (p.positional.length > 1) throw new UsageError('serve takes at most one CONFIG file');
  const cfg = await loadConfig(p.positional[0]);
  if (p.flags.has('allow-insecure-http')) cfg.http.allowInsecure = true;
  const problem = insecureListenProblem(cfg);
  if (problem) {
    process.stderr.write(`berth registry: ${problem}\n`);
    return 1;
  }
  const log = new Logger(cfg.log);
  guardProcess(log);
  const running = await startRegistry(cfg, log);
  // Tests and scripts read this line to learn the port when addr ends in :0.
  process.stdout.write(`berth registry listening on ${running.url}\n`);
  await new Promise<void>((resolveStop) => {
    const stop = (sig: string): void => {
      log.info('shutting down', { signal: sig });
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      running.close().then(() => resolveStop());
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  return 0;
}

async function gc(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['grace-period']);
  checkFlags(p, ['dry-run', 'grace-period']);
  if (p.positional.length > 1) throw new UsageError('gc takes at most one CONFIG file');
  const cfg = await loadConfig(p.positional[0]);
  const grace = p.flags.get('grace-period');
  const gracePeriodMs = typeof grace === 'string' ? parseDuration(grace, '--grace-period') : DEFAULT_GRACE_MS;
  const storage = new Storage(cfg.storage.rootDirectory);
  await storage.init(false);
  const dryRun = p.flags.has('dry-run');
  const report = await garbageCollect(storage, { dryRun, gracePeriodMs, print: (l) => process.stdout.write(l + '\n') });
  const verb = dryRun ? 'would delete' : 'deleted';
  process.stdout.write(
    `${report.repositories} repositories, ${report.manifests} manifests, ${report.blobsMarked} blobs marked; ` +
      `${verb} ${report.blobsDeleted.length} blobs (${report.bytesFreed} bytes); ` +
      `${report.blobsRecent} kept as recently used, ${report.blobsRestored} restored for concurrent pushes\n`,
  );
  return 0;
}

async function meta(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['description', 'stars']);
  checkFlags(p, ['description', 'stars']);
  const [sub, repo, config, ...rest] = p.positional;
  if ((sub !== 'get' && sub !== 'set') || !repo || rest.length > 0) throw new UsageError('usage: meta get|set REPOSITORY [options] [CONFIG]');
  checkName(repo);
  const cfg: RegistryConfig = await loadConfig(config);
  const storage = new Storage(cfg.storage.rootDirectory);
  await storage.init(false);
  const current = await storage.getMeta(repo);
  if (sub === 'set') {
    const description = p.flags.get('description');
    const stars = p.flags.get('stars');
    if (description === undefined && stars === undefined) throw new UsageError('meta set needs --description and/or --stars');
    if (typeof description === 'string') current.description = description.slice(0, 1000);
    if (stars !== undefined) {
      const n = Number(stars);
      if (typeof stars !== 'string' || !Number.isSafeInteger(n) || n < 0) throw new UsageError('--stars must be a non-negative integer');
      current.stars = n;
    }
    await storage.setMeta(repo, current);
  }
  process.stdout.write(JSON.stringify({ name: repo, ...current }) + '\n');
  return 0;
}

export async function registryMain(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
      process.stdout.write(USAGE);
      return cmd ? 0 : 1;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    switch (cmd) {
      case 'serve':
        return await serve(rest);
      case 'gc':
      case 'garbage-collect':
        return await gc(rest);
      case 'meta':
        return await meta(rest);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`berth registry: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`berth registry: config: ${err.message}\n`);
      return 1;
    }
    if (err instanceof RegistryError) {
      process.stderr.write(`berth registry: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`berth registry: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}
