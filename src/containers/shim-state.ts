// A container's state directory in the exec root, as its shim leaves it
// (shim.sock, shim.pid, pid, exit.json, the rootfs mount point), and what the
// shim and the runtime report read as dockerd's errors.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord } from '../api/container.ts';
import { EngineError, InvalidArgumentError, SystemError } from '../errors.ts';
import { isMountPoint } from '../runtime/mountinfo.ts';
import { runtimeCall, runtimeTimeoutSeconds } from '../runtime/runtime-call.ts';
import { ShimConnection, ShimError, type ExitStatus } from '../runtime/shim.ts';

/**
 * Removes a container's exec-root directory, the only way it is removed. A
 * shim that died without cleaning up may have left the rootfs mounted, and a
 * recursive rm would then delete the container's files through the mount:
 * detach it first.
 */
export async function removeStateDir(stateDir: string): Promise<void> {
  // Most calls find nothing (a start clears the way first, a removal after the exit's clean-up): no mount table to read then.
  if (!existsSync(stateDir)) return;
  const rootfs = join(stateDir, 'rootfs');
  if (isMountPoint(rootfs)) {
    await new Promise<void>((resolve) => execFile('umount', ['-l', rootfs], () => resolve()));
  }
  await rm(stateDir, { recursive: true, force: true }).catch(() => {});
}

/** The pid of the container's shim while it lives. */
function liveShimPid(stateDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(stateDir, 'shim.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/**
 * A kill -9 during start, after the shim was launched but before the record
 * said running, leaves a shim (and its container, created or already started)
 * for a container whose record says it is not running. The record is the
 * truth — the start never returned — so the process is killed and the shim
 * left to clean up as on any exit; otherwise it would run unaccounted for, and
 * outlive the container's removal.
 */
export async function killOrphanShim(stateDir: string): Promise<void> {
  // A state dir left by a crash after an exit has exit.json, and its shim.pid
  // may name a reused pid by now: only a shim whose command line names this
  // state dir is ours. While it lives, it reaps the container, so `pid` is not reused.
  if (readExitFile(stateDir)) return;
  const ours = () => {
    const shimPid = liveShimPid(stateDir);
    try {
      return shimPid !== undefined && readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').split('\0').includes(stateDir);
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 30_000;
  const sleep = () => new Promise((r) => setTimeout(r, 50));
  // The shim writes `pid` once `runc create` is done; wait for it or for the shim's end.
  let pid = 0;
  while (ours() && Date.now() < deadline) {
    try {
      pid = Number(readFileSync(join(stateDir, 'pid'), 'utf8').trim()) || 0;
    } catch {
      pid = 0;
    }
    if (pid > 1) break;
    await sleep();
  }
  if (pid <= 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  while (ours() && Date.now() < deadline) await sleep();
}

/**
 * Connects to a container's shim. While the shim process lives a refused
 * connection is retried (it may be busy or just finishing); undefined means
 * the shim is gone.
 */
export async function connectToShim(stateDir: string): Promise<ShimConnection | undefined> {
  const sock = join(stateDir, 'shim.sock');
  for (let attempt = 0; ; attempt++) {
    const conn = await ShimConnection.connect(sock).catch(() => undefined);
    if (conn) return conn;
    if (liveShimPid(stateDir) === undefined || attempt >= 50) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function readExitFile(stateDir: string): ExitStatus | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'exit.json'), 'utf8')) as ExitStatus;
  } catch {
    return undefined;
  }
}

/** dockerd's translation of runtime start errors: 127/126 exit codes, 400 for bad commands. */
export function startError(rec: ContainerRecord, err: unknown): EngineError {
  const raw = err instanceof Error ? err.message : String(err);
  const msg = runtimeMessage(raw);
  const text = err instanceof ShimError ? `failed to create task for container: OCI runtime create failed: ${msg}: unknown` : msg;
  if (/executable file not found|no such file or directory/.test(msg)) {
    rec.State.ExitCode = 127;
    return new InvalidArgumentError(text);
  }
  if (/permission denied/.test(msg)) {
    rec.State.ExitCode = 126;
    return new InvalidArgumentError(text);
  }
  if (err instanceof EngineError) return err;
  rec.State.ExitCode = 128;
  return new SystemError(text);
}

/** Pulls runc's own message out of its logrus line (`time=… level=error msg="…"`). */
export function runtimeMessage(raw: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(raw);
  if (m) return m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return raw.trim();
}

/** Runs `runc pause|resume` (or the container's other runtime) within the runtime timeout; rejects with the runtime's own message. */
export async function runtimeCommand(rt: { path: string; args: string[]; root: string }, command: 'pause' | 'resume', id: string): Promise<void> {
  const r = await runtimeCall(rt.path, ['--root', rt.root, ...rt.args, command, id]);
  const why = r.timedOut ? `${rt.path} ${command} timed out after ${runtimeTimeoutSeconds()}s` : r.code !== 0 ? runtimeMessage(r.stderr || `exit status ${r.code}`) : '';
  if (why) throw new Error(why);
}
