// .dockerignore: Docker's pattern matching (Go filepath.Match segments, `**`,
// `!` exceptions, later rules win) via @balena/dockerignore, which ports
// Docker's own fileutils matcher. Used by the CLI when it packs a context and
// by the builder when it copies from one.
import dockerignore from '@balena/dockerignore';
import { posix } from 'node:path';

// The package is CommonJS (`module.exports = factory`) with ES-style typings.
type Factory = typeof dockerignore.default;
const ignore: Factory = (dockerignore as unknown as { default?: Factory }).default ?? (dockerignore as unknown as Factory);

export interface IgnoreMatcher {
  /** True when `rel` (a context-relative path, no leading slash) is excluded. */
  excludes(rel: string): boolean;
  /** True when some rule re-includes paths (`!x`), so an excluded directory must still be walked. */
  hasExceptions: boolean;
}

/** The rules of a .dockerignore file's text: comments and blank lines dropped, each pattern cleaned as Docker does. */
export function parseIgnoreFile(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1).trim();
    }
    if (line === '') continue;
    line = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (line === '' || line === '.') continue;
    out.push(negate ? '!' + line : line);
  }
  return out;
}

export function ignoreMatcher(rules: string[]): IgnoreMatcher {
  const ig = ignore().add(rules);
  return {
    excludes: (rel) => rel !== '' && ig.ignores(rel),
    hasExceptions: rules.some((r) => r.startsWith('!')),
  };
}

/** The ignore file that applies to a Dockerfile: `<Dockerfile>.dockerignore` beside it wins over `.dockerignore`. */
export function ignoreFileCandidates(dockerfileRel: string): string[] {
  return [`${dockerfileRel}.dockerignore`, '.dockerignore'];
}
