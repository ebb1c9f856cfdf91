// The ground's typed errors: what went wrong, in the domain's words, with
// dockerd's wording in the message (clients show it verbatim). No layer below
// the API knows about HTTP: daemon/routes/errors.ts maps each kind to a
// status, in that one place.

export abstract class EngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The caller asked for something malformed or impossible (dockerd's errdefs.InvalidParameter). */
export class InvalidArgumentError extends EngineError {}
export class NotFoundError extends EngineError {}
/** The object exists in a state that forbids the request (in use, name taken, already running). */
export class ConflictError extends EngineError {}
/** Nothing to do: the object is already as asked (start of a running container). */
export class NotModifiedError extends EngineError {
  constructor(message = '') { super(message); }
}
/** Credentials were refused (a registry login). */
export class UnauthorizedError extends EngineError {}
export class ForbiddenError extends EngineError {}
/** What the request builds on is gone (a build context the daemon no longer keeps). */
export class PreconditionFailedError extends EngineError {}
/** The engine cannot serve this now (no address left in a pool). */
export class UnavailableError extends EngineError {}
/** A request past a size limit (a body too large to hold). */
export class TooLargeError extends EngineError {}
/** Too much at once from one client (its concurrent streams). */
export class TooManyRequestsError extends EngineError {}
/** A feature berth does not have (dockerd's errdefs.NotImplemented: 501). */
export class NotImplementedError extends EngineError {}
/** The engine itself failed (a runtime, a registry, the disk), not the request. */
export class SystemError extends EngineError {}

/** A malformed or hostile archive. Not an EngineError: the caller decides what it means for its request. */
export class ArchiveError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArchiveError';
  }
}

/**
 * What a bad archive in a request means for it: the disk failing under it is
 * the engine's (500), anything else about the tar is the client's (400).
 */
export function archiveRequestError(err: ArchiveError): EngineError {
  const code = (err.cause as { code?: string } | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EIO' || code === 'EDQUOT') return new SystemError(err.message, { cause: err });
  return new InvalidArgumentError(err.message, { cause: err });
}

export const noSuchContainer = (ref: string) => new NotFoundError(`No such container: ${ref}`);
export const noSuchImage = (ref: string) => new NotFoundError(`No such image: ${ref}`);
export const noSuchExec = (ref: string) => new NotFoundError(`No such exec instance: ${ref}`);
