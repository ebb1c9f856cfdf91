// Swarm mode, which berth does not have: its routes answer as dockerd on a
// node that is in no swarm (503 with dockerd's words), so clients and SDKs
// that probe or leave a swarm get the answer they handle, not a 404.
import type { ApiServer } from '../server.ts';
import { UnavailableError } from '../../errors.ts';

const NO_SWARM = 'This node is not part of a swarm';
const NO_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

export function swarmRoutes(api: ApiServer): void {
  const refuse = (message: string) => () => { throw new UnavailableError(message); };
  api.route('POST', '/swarm/leave', refuse(NO_SWARM));
  api.route('POST', '/swarm/init', refuse('berth does not support swarm mode'));
  api.route('POST', '/swarm/join', refuse('berth does not support swarm mode'));
  for (const [method, path] of [
    ['GET', '/swarm'], ['POST', '/swarm/update'], ['GET', '/swarm/unlockkey'], ['POST', '/swarm/unlock'],
    ['GET', '/nodes'], ['GET', '/nodes/:id'], ['DELETE', '/nodes/:id'], ['POST', '/nodes/:id/update'],
    ['GET', '/services'], ['POST', '/services/create'], ['GET', '/services/:id'], ['DELETE', '/services/:id'],
    ['POST', '/services/:id/update'], ['GET', '/services/:id/logs'],
    ['GET', '/tasks'], ['GET', '/tasks/:id'], ['GET', '/tasks/:id/logs'],
    ['GET', '/secrets'], ['POST', '/secrets/create'], ['GET', '/secrets/:id'], ['DELETE', '/secrets/:id'], ['POST', '/secrets/:id/update'],
    ['GET', '/configs'], ['POST', '/configs/create'], ['GET', '/configs/:id'], ['DELETE', '/configs/:id'], ['POST', '/configs/:id/update'],
  ] as const) api.route(method, path, refuse(NO_MANAGER));
}
