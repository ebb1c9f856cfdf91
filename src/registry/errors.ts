// Errors as the distribution spec defines them: an HTTP status plus a body of
// the form {"errors":[{"code","message","detail"}]}. Every failure a client can
// see goes through RegistryError so the codes stay consistent.

export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'TAG_INVALID';

const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'manifest references a manifest or blob unknown to registry',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown to registry',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNSUPPORTED: 'the operation is unsupported',
  TOOMANYREQUESTS: 'too many requests',
  RANGE_INVALID: 'invalid content range',
  PAGINATION_NUMBER_INVALID: 'invalid number of results requested',
  TAG_INVALID: 'manifest tag did not match URI',
};

export class RegistryError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: unknown;
  /** Extra response headers, e.g. WWW-Authenticate or Range on a 416. */
  readonly headers: Record<string, string>;

  constructor(status: number, code: ErrorCode, message?: string, detail?: unknown, headers: Record<string, string> = {}) {
    super(message ?? DEFAULT_MESSAGES[code]);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.headers = headers;
  }

  body(): string {
    const entry: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return JSON.stringify({ errors: [entry] });
  }
}

export const notFoundBlob = (digest: string): RegistryError =>
  new RegistryError(404, 'BLOB_UNKNOWN', undefined, { digest });
export const notFoundManifest = (ref: string): RegistryError =>
  new RegistryError(404, 'MANIFEST_UNKNOWN', undefined, { reference: ref });
export const unknownUpload = (): RegistryError => new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN');
export const unsupported = (message?: string): RegistryError => new RegistryError(405, 'UNSUPPORTED', message);
