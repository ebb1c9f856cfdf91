// --security-opt, as dockerd's parseSecurityOpt reads it: no-new-privileges,
// seccomp (the default profile, unconfined, or a profile's JSON, which the
// client read from its file), apparmor, label (SELinux, ignored on hosts
// without it) and writable-cgroups; anything else is dockerd's error.
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.ts';

export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** undefined: Docker's default profile. */
  seccomp?: 'unconfined' | { profile: string };
  apparmor?: string;
  labels: string[];
  writableCgroups?: boolean;
}

function bool(v: string, opt: string): boolean {
  if (/^(1|t|T|TRUE|true|True)$/.test(v)) return true;
  if (/^(0|f|F|FALSE|false|False)$/.test(v)) return false;
  throw new InvalidArgumentError(`invalid --security-opt 2: "${opt}"`);
}

export function parseSecurityOpts(opts: string[] | null | undefined): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, labels: [] };
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges') { out.noNewPrivileges = true; continue; }
    if (opt === 'disable') { out.labels.push('disable'); continue; }
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : '';
    if (!sep) throw new InvalidArgumentError(`invalid --security-opt 1: "${opt}"`);
    const k = opt.slice(0, opt.indexOf(sep));
    const v = opt.slice(opt.indexOf(sep) + 1);
    switch (k) {
      case 'label': out.labels.push(v); break;
      case 'apparmor': out.apparmor = v; break;
      case 'seccomp':
        if (v === 'unconfined') out.seccomp = 'unconfined';
        else if (v === '' || v === 'builtin') out.seccomp = undefined;
        else out.seccomp = { profile: v };
        break;
      case 'no-new-privileges': out.noNewPrivileges = bool(v, opt); break;
      case 'writable-cgroups': out.writableCgroups = bool(v, opt); break;
      default: throw new InvalidArgumentError(`invalid --security-opt 2: "${opt}"`);
    }
  }
  if (typeof out.seccomp === 'object') checkProfile(out.seccomp.profile);
  return out;
}

/** A profile must be JSON (the daemon reads no client paths); Go's decoder error, without echoing the text. */
function checkProfile(text: string): void {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`Decoding seccomp profile failed: invalid character '${text.trimStart()[0] ?? ''}' looking for beginning of value`);
  }
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw new InvalidArgumentError('Decoding seccomp profile failed: json: cannot unmarshal into Go value of type seccomp.Seccomp');
  const action = (p as { defaultAction?: unknown }).defaultAction;
  if (typeof action !== 'string' || !/^SCMP_ACT_/.test(action)) throw new InvalidArgumentError(`Decoding seccomp profile failed: unrecognized seccomp action: ${String(action ?? '')}`);
}

/** Whether the host enforces AppArmor profiles (dockerd sets a container's profile only then). */
export function hostHasAppArmor(): boolean {
  try {
    return existsSync('/sys/kernel/security/apparmor') && readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}
