// The one place where the domain's error kinds become HTTP statuses.
import { ConflictError, EngineError, ForbiddenError, InvalidArgumentError, NotFoundError, NotImplementedError, NotModifiedError, PreconditionFailedError, TooLargeError, TooManyRequestsError, UnauthorizedError, UnavailableError } from '../../errors.ts';

const STATUS: [new (...args: never[]) => EngineError, number][] = [
  [InvalidArgumentError, 400],
  [NotFoundError, 404],
  [ConflictError, 409],
  [NotModifiedError, 304],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [PreconditionFailedError, 412],
  [UnavailableError, 503],
  [TooLargeError, 413],
  [TooManyRequestsError, 429],
  [NotImplementedError, 501],
];

/** The HTTP status for an error a handler threw; anything unexpected is a 500. */
export function httpStatus(err: unknown): number {
  for (const [kind, status] of STATUS) if (err instanceof kind) return status;
  return 500;
}
