// The docker CLI's contexts, read the way the docker CLI stores them, so
// berth (and berth as the docker CLI's compose plugin) talks to the daemon
// `docker --context X` or `docker context use X` points at.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** --config, then $DOCKER_CONFIG, then ~/.docker (as credentials.ts; not imported: it imports context.ts). */
function configDir(flag?: string): string {
  return flag ?? process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? '/root', '.docker');
}

interface ContextMeta { Name?: string; Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } } }

export interface ContextEndpoint {
  host?: string;
  tls?: { tlscacert?: string; tlscert?: string; tlskey?: string; tlsverify?: boolean };
}

/** The context a command uses when no -H is given: --context, else DOCKER_HOST, else DOCKER_CONTEXT, else config.json's currentContext. */
export function selectedContext(flag: string | undefined, config: string | undefined): string | undefined {
  if (flag) return flag;
  if (process.env.DOCKER_HOST) return undefined;
  if (process.env.DOCKER_CONTEXT) return process.env.DOCKER_CONTEXT;
  try {
    const cfg = JSON.parse(readFileSync(join(configDir(config), 'config.json'), 'utf8')) as { currentContext?: unknown };
    return typeof cfg.currentContext === 'string' && cfg.currentContext ? cfg.currentContext : undefined;
  } catch {
    return undefined;
  }
}

/** The docker endpoint of a named context; `default` is DOCKER_HOST or the default socket (undefined here). */
export function contextEndpoint(name: string, config: string | undefined): ContextEndpoint {
  if (name === 'default') return { host: process.env.DOCKER_HOST || undefined };
  const id = createHash('sha256').update(name).digest('hex');
  const dir = configDir(config);
  let meta: ContextMeta;
  try {
    meta = JSON.parse(readFileSync(join(dir, 'contexts', 'meta', id, 'meta.json'), 'utf8')) as ContextMeta;
  } catch {
    throw new Error(`context "${name}" does not exist`);
  }
  const ep = meta.Endpoints?.docker;
  const tlsDir = join(dir, 'contexts', 'tls', id, 'docker');
  const tls = existsSync(join(tlsDir, 'cert.pem'))
    ? { tlscacert: join(tlsDir, 'ca.pem'), tlscert: join(tlsDir, 'cert.pem'), tlskey: join(tlsDir, 'key.pem'), tlsverify: ep?.SkipTLSVerify !== true }
    : undefined;
  return { host: ep?.Host, tls };
}
