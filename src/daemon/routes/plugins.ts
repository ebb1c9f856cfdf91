// Managed plugins, which berth does not have: the engine answers as a dockerd
// with no plugin installed (an empty list, "not found" for any name), and
// refuses to install one with 501 rather than a 404 "page not found".
import type { ApiServer } from '../server.ts';
import { NotFoundError, NotImplementedError } from '../../errors.ts';

const NO_PLUGINS = 'berth does not support managed plugins';

export function pluginRoutes(api: ApiServer): void {
  api.route('GET', '/plugins', () => ({ body: [] }));
  const notFound = (ctx: { params: Record<string, string> }) => {
    throw new NotFoundError(`plugin "${ctx.params.name}" not found`);
  };
  for (const [method, path] of [
    ['GET', '/plugins/:name/json'], ['DELETE', '/plugins/:name'], ['POST', '/plugins/:name/enable'],
    ['POST', '/plugins/:name/disable'], ['POST', '/plugins/:name/push'], ['POST', '/plugins/:name/set'],
    ['POST', '/plugins/:name/upgrade'],
  ] as const) api.route(method, path, notFound);
  const refuse = () => { throw new NotImplementedError(NO_PLUGINS); };
  for (const path of ['/plugins/privileges']) api.route('GET', path, refuse);
  for (const path of ['/plugins/pull', '/plugins/create']) api.route('POST', path, refuse);
}
