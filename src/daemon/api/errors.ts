// Typed errors carry their HTTP status, so handlers throw and the server maps
// them in exactly one place (server.ts). Messages follow dockerd's wording,
// which clients (the docker CLI, SDKs) show to users verbatim.

export class EngineError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = new.target.name;
  }
}

export class BadRequestError extends EngineError {
  constructor(message: string) { super(400, message); }
}
export class NotFoundError extends EngineError {
  constructor(message: string) { super(404, message); }
}
export class ConflictError extends EngineError {
  constructor(message: string) { super(409, message); }
}
export class NotModifiedError extends EngineError {
  constructor(message = '') { super(304, message); }
}
export class ForbiddenError extends EngineError {
  constructor(message: string) { super(403, message); }
}
export class PreconditionFailedError extends EngineError {
  constructor(message: string) { super(412, message); }
}
/** dockerd's notAvailableError: what this node cannot do in its state (no swarm). */
export class UnavailableError extends EngineError {
  constructor(message: string) { super(503, message); }
}
export class InternalError extends EngineError {
  constructor(message: string) { super(500, message); }
}

export const noSuchContainer = (ref: string) => new NotFoundError(`No such container: ${ref}`);
export const noSuchImage = (ref: string) => new NotFoundError(`No such image: ${ref}`);
export const noSuchExec = (ref: string) => new NotFoundError(`No such exec instance: ${ref}`);

export function statusOf(err: unknown): number {
  return err instanceof EngineError ? err.status : 500;
}
