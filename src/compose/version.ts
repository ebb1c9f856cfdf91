// berth compose's version, as `compose version` and the docker CLI plugin's
// metadata give it. Like docker compose, the com.docker.compose.version label
// carries the short form (`compose version --short`, no leading "v").
export const COMPOSE_VERSION = 'v0.1.0-berth';
export const COMPOSE_VERSION_SHORT = COMPOSE_VERSION.replace(/^v/, '');
