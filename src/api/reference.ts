// Image references as the docker CLI and dockerd normalize them:
// `busybox` = `busybox:latest` = `library/busybox` = `docker.io/library/busybox:latest`.
import { InvalidArgumentError } from '../errors.ts';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE_RE = new RegExp(`^((?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const ANCHORED_TAG = new RegExp(`^${TAG}$`);
const ID_RE = /^(sha256:)?[a-f0-9]{64}$/;
const NAME_MAX = 255;

export interface Reference {
  /** Fully qualified repository: `docker.io/library/busybox`. */
  name: string;
  domain: string;
  /** Path below the domain: `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

export class InvalidReferenceError extends InvalidArgumentError {}

function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  let domain: string;
  let rest: string;
  if (i === -1 || (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && name.slice(0, i).toLowerCase() === name.slice(0, i))) {
    domain = DEFAULT_DOMAIN;
    rest = name;
  } else {
    domain = name.slice(0, i);
    rest = name.slice(i + 1);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !rest.includes('/')) rest = OFFICIAL_PREFIX + rest;
  return [domain, rest];
}

/** Parses a user-typed reference ("familiar" form allowed); throws Docker's errors. */
export function parseNormalizedNamed(s: string): Reference {
  if (ID_RE.test(s) && !s.startsWith('sha256:')) {
    throw new InvalidReferenceError(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDomain(s);
  const remoteName = remainder.split(/[:@]/)[0];
  if (remoteName.toLowerCase() !== remoteName) {
    throw new InvalidReferenceError(`invalid reference format: repository name (${remoteName}) must be lowercase`);
  }
  const m = REFERENCE_RE.exec(`${domain}/${remainder}`);
  if (!m) throw new InvalidReferenceError('invalid reference format');
  const name = m[1];
  if (name.length > NAME_MAX) throw new InvalidReferenceError('invalid reference format: repository name must not be more than 255 characters');
  const ref: Reference = { name, domain, path: name.slice(domain.length + 1) };
  if (m[2]) ref.tag = m[2];
  if (m[3]) ref.digest = m[3];
  return ref;
}

/** Adds `:latest` when neither tag nor digest is given. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag || ref.digest ? ref : { ...ref, tag: DEFAULT_TAG };
}

export function isValidTag(tag: string): boolean {
  return ANCHORED_TAG.test(tag);
}

/** Full string: `docker.io/library/busybox:latest`. */
export function referenceString(ref: Reference): string {
  return ref.name + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

/** What users see: `busybox`, `foo/bar`, `localhost:5000/app`. */
export function familiarName(ref: Pick<Reference, 'domain' | 'path'>): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  return ref.path.startsWith(OFFICIAL_PREFIX) && ref.path.indexOf('/', OFFICIAL_PREFIX.length) === -1
    ? ref.path.slice(OFFICIAL_PREFIX.length)
    : ref.path;
}

export function familiarString(ref: Reference): string {
  return familiarName(ref) + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

export function looksLikeImageId(s: string): boolean {
  return /^(sha256:)?[a-f0-9]{1,64}$/.test(s);
}
