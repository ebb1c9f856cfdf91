// Docker's default seccomp profile (src/runtime/seccomp-default.json, copied
// from moby/profiles v0.2.3 as shipped in ../shared/reference) converted to the
// OCI form for this machine: rules kept or dropped by architecture, kernel
// version and the container's capabilities, as dockerd does.
import { release } from 'node:os';
import defaultProfile from './seccomp-default.json' with { type: 'json' };
import type { SecurityOptions } from './security-opts.ts';

interface Filter { caps?: string[]; arches?: string[]; minKernel?: string }
interface DockerRule { names?: string[]; name?: string; action: string; errnoRet?: number; args?: unknown[] | null; includes?: Filter; excludes?: Filter }
export interface DockerProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  architectures?: string[];
  syscalls?: DockerRule[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: unknown[] }[];
}

const GOARCH = 'amd64';
const NATIVE = 'SCMP_ARCH_X86_64';

function kernelAtLeast(min: string): boolean {
  const [a, b] = release().split(/[.-]/).map(Number);
  const [x, y] = min.split('.').map(Number);
  return a > x || (a === x && b >= (y ?? 0));
}

export function convertProfile(p: DockerProfile, caps: string[]): OciSeccomp {
  let architectures = p.architectures ?? [];
  for (const m of p.archMap ?? []) {
    if (m.architecture === NATIVE) architectures = [m.architecture, ...(m.subArchitectures ?? [])];
  }
  const capSet = new Set(caps);
  const syscalls: OciSeccomp['syscalls'] = [];
  for (const r of p.syscalls ?? []) {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(GOARCH)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => capSet.has(c))) continue;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel)) continue;
    if (exc.arches?.includes(GOARCH)) continue;
    if (exc.caps?.some((c) => capSet.has(c))) continue;
    const names = r.names ?? (r.name ? [r.name] : []);
    syscalls.push({ names, action: r.action, ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}), ...(r.args?.length ? { args: r.args } : {}) });
  }
  return { defaultAction: p.defaultAction, ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}), architectures, syscalls };
}

/** The seccomp section: Docker's default profile, none (`unconfined`, or privileged with no choice), or the profile sent. */
export function seccompFor(choice: SecurityOptions['seccomp'], caps: string[], privileged: boolean): OciSeccomp | undefined {
  if (choice === 'unconfined' || (privileged && choice === undefined)) return undefined;
  if (choice === undefined) return convertProfile(defaultProfile as DockerProfile, caps);
  return convertProfile(JSON.parse(choice.profile) as DockerProfile, caps);
}
