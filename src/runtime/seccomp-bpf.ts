// A container's seccomp filter compiled once per daemon, not on every start.
// crun compiles the spec's seccomp section with libseccomp on each create
// (Docker's default profile: 40–60 ms of a 100 ms `crun run` here), but takes
// a compiled filter in the annotation run.oci.seccomp_bpf_data, and keeps the
// filter it loaded in its state directory (seccomp.bpf, which its exec
// reuses). So the filter crun compiled for one container is handed to every
// later container whose seccomp section is the same, byte for byte, on the same
// crun binary: the bytes crun would have compiled itself. Kept in memory only;
// a restarted daemon compiles once more. runc has no such option.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { RuntimeSpec } from './spec.ts';

const ANNOTATION = 'run.oci.seccomp_bpf_data';
/** Filters by key; a few profiles at most (default, per capability set, custom files). */
const filters = new Map<string, string>();
const MAX_FILTERS = 64;

/** The cache key of this runtime and seccomp section, or undefined when the runtime cannot take a filter. */
export function seccompFilterKey(runtimePath: string, spec: RuntimeSpec): string | undefined {
  if (!spec.linux.seccomp || basename(runtimePath) !== 'crun') return undefined;
  let binary: string;
  try {
    const st = statSync(runtimePath);
    binary = `${st.ino}:${st.mtimeMs}`; // an upgraded crun (or libseccomp with it) compiles afresh
  } catch {
    return undefined;
  }
  return createHash('sha256').update(runtimePath).update('\0').update(binary).update('\0').update(JSON.stringify(spec.linux.seccomp)).digest('hex');
}

/** Adds the compiled filter to the spec when one is known for `key`; true if it did. */
export function withCompiledFilter(spec: RuntimeSpec & { annotations?: Record<string, string> }, key: string | undefined): boolean {
  const bpf = key ? filters.get(key) : undefined;
  // A filter the user put in the annotations is theirs to give (as with crun itself); it is never learnt from.
  if (!bpf || spec.annotations?.[ANNOTATION] !== undefined) return false;
  spec.annotations = { ...spec.annotations, [ANNOTATION]: bpf };
  return true;
}

/** After crun created the container `id` with `key`'s section, keeps the filter it compiled. */
export async function learnCompiledFilter(key: string | undefined, runtimeRoot: string, id: string): Promise<void> {
  if (!key || filters.has(key)) return;
  try {
    const bpf = await readFile(join(runtimeRoot, id, 'seccomp.bpf'));
    // A BPF program is a whole number of 8-byte instructions; anything else is not one.
    if (bpf.length === 0 || bpf.length % 8 !== 0) return;
    if (filters.size >= MAX_FILTERS) filters.delete(filters.keys().next().value as string);
    filters.set(key, bpf.toString('base64'));
  } catch { /* no file (the container already gone): compile again next time */ }
}
