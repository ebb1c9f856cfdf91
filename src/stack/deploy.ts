// `stack deploy` and `stack rm` as the docker CLI runs them, client side:
// the stack's objects are created or updated through the Engine API and
// found again by their com.docker.stack.namespace label.
import { ApiError, type EngineClient } from '../client/engine-client.ts';
import { prepareServiceImage } from '../client/service-image.ts';
import type { Project } from '../compose/model.ts';
import type { SecretOrConfig, Service, Task } from '../api/swarm.ts';
import { LABEL_IMAGE, LABEL_NAMESPACE, scope, serviceSpec, StackError, stackObjects } from './convert.ts';

export interface StackOutput {
  out(line: string): void;
  err(line: string): void;
  /** Text for stderr as is, without a newline. */
  errText(text: string): void;
}

const stackFilter = (stack: string) => JSON.stringify({ label: { [`${LABEL_NAMESPACE}=${stack}`]: true } });

export const stackServices = (c: EngineClient, stack: string) => c.call<Service[]>('GET', '/services', { query: { filters: stackFilter(stack) } });
export const stackNetworks = (c: EngineClient, stack: string) => c.call<{ Id: string; Name: string }[]>('GET', '/networks', { query: { filters: stackFilter(stack) } });
export const stackSecrets = (c: EngineClient, stack: string) => c.call<SecretOrConfig[]>('GET', '/secrets', { query: { filters: stackFilter(stack) } });
export const stackConfigs = (c: EngineClient, stack: string) => c.call<SecretOrConfig[]>('GET', '/configs', { query: { filters: stackFilter(stack) } });
export const stackTasks = (c: EngineClient, stack: string) => c.call<Task[]>('GET', '/tasks', { query: { filters: stackFilter(stack) } });

/** validateStackName: a name of only whitespace and quotes is none. */
export function checkStackName(name: string): void {
  if (name.replace(/^[\s"']+|[\s"']+$/g, '') === '') throw new StackError(`invalid stack name: "${name}"`);
}

const isNotFound = (err: unknown) => err instanceof ApiError && err.status === 404;
const apiText = (err: unknown) => (err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message);

export interface DeployOptions {
  prune: boolean;
  resolveImage: 'always' | 'changed' | 'never';
}

/**
 * deployCompose: networks, secrets, configs, then services; returns the
 * services' IDs, for the caller to follow their convergence.
 */
export async function deployStack(client: EngineClient, stack: string, project: Project, o: DeployOptions, log: StackOutput): Promise<string[]> {
  checkStackName(stack);
  const info = await client.call<{ Swarm: { ControlAvailable: boolean } }>('GET', '/info');
  if (!info.Swarm.ControlAvailable) throw new StackError('this node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again');
  if (o.prune) {
    try {
      for (const s of await stackServices(client, stack)) {
        if (project.services[(s.Spec.Name ?? '').replace(`${stack}_`, '')]) continue;
        log.out(`Removing service ${s.Spec.Name}`);
        try {
          await client.status('DELETE', `/services/${encodeURIComponent(s.ID)}`);
        } catch (err) {
          log.err(`Failed to remove service ${s.ID}: ${apiText(err)}`);
        }
      }
    } catch (err) {
      log.err(`Failed to list services: ${apiText(err)}`);
    }
  }
  const objects = stackObjects(stack, project);
  for (const name of objects.externalNetworks) {
    if (['bridge', 'host', 'none', 'default'].includes(name) || name.startsWith('container:')) continue;
    try {
      const n = await client.call<{ Scope: string }>('GET', `/networks/${encodeURIComponent(name)}`);
      if (n.Scope !== 'swarm') throw new StackError(`network "${name}" is declared as external, but it is not in the right scope: "${n.Scope}" instead of "swarm"`);
    } catch (err) {
      if (isNotFound(err)) throw new StackError(`network "${name}" is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed`);
      throw err;
    }
  }
  const existing = new Set((await stackNetworks(client, stack)).map((n) => n.Name));
  for (const n of objects.networks) {
    if (existing.has(n.Name)) continue;
    log.out(`Creating network ${n.Name}`);
    try {
      await client.call('POST', '/networks/create', { body: n });
    } catch (err) {
      throw new StackError(`failed to create network ${n.Name}: ${apiText(err)}`);
    }
  }
  for (const kind of ['secret', 'config'] as const) {
    for (const spec of kind === 'secret' ? objects.secrets : objects.configs) {
      let current: SecretOrConfig | undefined;
      try {
        current = await client.call<SecretOrConfig>('GET', `/${kind}s/${encodeURIComponent(spec.Name)}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      try {
        if (current) {
          await client.status('POST', `/${kind}s/${encodeURIComponent(current.ID)}/update`, { query: { version: current.Version.Index }, body: spec });
        } else {
          log.out(`Creating ${kind} ${spec.Name}`);
          await client.call('POST', `/${kind}s/create`, { body: spec });
        }
      } catch (err) {
        throw new StackError(`failed to ${current ? 'update' : 'create'} ${kind} ${spec.Name}: ${apiText(err)}`);
      }
    }
  }
  const specs = [];
  for (const s of Object.values(project.services)) {
    try {
      specs.push(await serviceSpec(client, stack, project, s));
    } catch (err) {
      throw new StackError(`service ${s.name}: ${apiText(err)}`);
    }
  }
  const current = new Map((await stackServices(client, stack)).map((s) => [s.Spec.Name, s]));
  const ids: string[] = [];
  for (const spec of specs) {
    const name = spec.Name!;
    const image = spec.TaskTemplate.ContainerSpec?.Image ?? '';
    const svc = current.get(name);
    if (svc) {
      log.out(`Updating service ${name} (id: ${svc.ID})`);
      // An image the file did not change keeps the digest the service was pinned to.
      const same = image === svc.Spec.Labels?.[LABEL_IMAGE];
      if (o.resolveImage !== 'always' && same) spec.TaskTemplate.ContainerSpec!.Image = svc.Spec.TaskTemplate.ContainerSpec?.Image;
      spec.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate;
      try {
        const warnings = await prepareServiceImage(client, spec.TaskTemplate, o.resolveImage === 'always' || (o.resolveImage === 'changed' && !same));
        const r = await client.call<{ Warnings?: string[] | null }>('POST', `/services/${encodeURIComponent(svc.ID)}/update`, { query: { version: svc.Version.Index }, body: spec });
        for (const w of [...warnings, ...(r?.Warnings ?? [])]) log.err(w);
      } catch (err) {
        throw new StackError(`failed to update service ${name}: ${apiText(err)}`);
      }
      ids.push(svc.ID);
    } else {
      log.out(`Creating service ${name}`);
      try {
        // The docker CLI does not print a new service's warnings.
        await prepareServiceImage(client, spec.TaskTemplate, o.resolveImage !== 'never');
        ids.push((await client.call<{ ID: string }>('POST', '/services/create', { body: spec })).ID);
      } catch (err) {
        throw new StackError(`failed to create service ${name}: ${apiText(err)}`);
      }
    }
  }
  return ids;
}

/** `stack rm` of one stack: services, secrets, configs, then networks; false when something stayed. */
export async function removeStack(client: EngineClient, stack: string, log: StackOutput): Promise<'empty' | 'removed' | 'failed'> {
  const services = await stackServices(client, stack);
  const networks = await stackNetworks(client, stack);
  const secrets = await stackSecrets(client, stack);
  const configs = await stackConfigs(client, stack);
  if (services.length + networks.length + secrets.length + configs.length === 0) return 'empty';
  let failed = false;
  const remove = async (what: string, name: string, id: string, path: string) => {
    log.out(`Removing ${what} ${name}`);
    try {
      await client.status('DELETE', path);
    } catch (err) {
      failed = true;
      // The docker CLI's wording, without a newline at the end (its Fprintf has none).
      log.errText(`Failed to remove ${what} ${id}: ${apiText(err)}`);
    }
  };
  services.sort((a, b) => ((a.Spec.Name ?? '') < (b.Spec.Name ?? '') ? -1 : 1));
  for (const s of services) await remove('service', s.Spec.Name ?? '', s.ID, `/services/${encodeURIComponent(s.ID)}`);
  for (const s of secrets) await remove('secret', s.Spec.Name, s.ID, `/secrets/${encodeURIComponent(s.ID)}`);
  for (const c of configs) await remove('config', c.Spec.Name, c.ID, `/configs/${encodeURIComponent(c.ID)}`);
  for (const n of networks) await remove('network', n.Name, n.Id, `/networks/${encodeURIComponent(n.Id)}`);
  return failed ? 'failed' : 'removed';
}

/** stack rm without -d: until every task of the stack has ended. */
export async function waitStackTasksGone(client: EngineClient, stack: string): Promise<void> {
  const ended = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);
  for (;;) {
    const tasks = await stackTasks(client, stack);
    if (tasks.every((t) => ended.has(t.Status.State))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export { scope, StackError };
