// What a build context carries besides the files, as both ends of POST /build
// agree on it: berth's extra entries in the tar, and which remotes are git.

/** Where secrets travel in the context tar (hex-encoded ids as file names). */
export const SECRETS_DIR_IN_CONTEXT = '.berth-build-secrets';

/** In a context sent on top of an earlier one: the files to take from it (JSON `{ "files": [...] }`). */
export const BASE_FILES_IN_CONTEXT = '.berth-context-base.json';

/** dockerd's urlutil.IsGitURL: where a context is a git repository. */
export function isGitUrl(remote: string): boolean {
  if (/^(git:\/\/|git@|github\.com\/)/.test(remote)) return true;
  return /^https?:\/\/[^#]*\.git(#.*)?$/.test(remote);
}
