// berth compose's version, as `compose version` and the docker CLI plugin's metadata give it.
export const COMPOSE_VERSION = 'v0.1.0-berth';
