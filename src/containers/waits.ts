// Who waits for a container: stop, kill and remove for its exit, and
// POST /containers/{id}/wait for its exit or removal per its condition.
import { EventEmitter } from 'node:events';
import type { ContainerRecord } from '../api/container.ts';
import { InvalidArgumentError } from '../errors.ts';

export class ContainerWaits {
  /** Fires `exit:<id>` and `removed:<id>` with the exit code. */
  private readonly changes = new EventEmitter();

  constructor() {
    this.changes.setMaxListeners(0);
  }

  exited(id: string, code: number): void {
    this.changes.emit(`exit:${id}`, code);
  }

  removed(id: string, code: number): void {
    this.changes.emit(`removed:${id}`, code);
  }

  /** The container's next exit code. */
  nextExit(id: string): Promise<number> {
    return new Promise((resolve) => this.changes.once(`exit:${id}`, resolve));
  }

  /** POST /containers/{id}/wait: resolves with the exit code per `condition`. */
  async wait(rec: ContainerRecord, condition = 'not-running', signal?: AbortSignal): Promise<{ StatusCode: number; Error: null | { Message: string } }> {
    if (!['not-running', 'next-exit', 'removed', ''].includes(condition)) throw new InvalidArgumentError(`invalid condition: "${condition}"`);
    if ((condition === 'not-running' || condition === '') && !rec.State.Running) return { StatusCode: rec.State.ExitCode, Error: null };
    const event = condition === 'removed' ? `removed:${rec.Id}` : `exit:${rec.Id}`;
    const code = await new Promise<number>((resolve, reject) => {
      const onEvent = (c: number) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(condition === 'removed' ? rec.State.ExitCode : c);
      };
      const onAbort = () => {
        this.changes.off(event, onEvent);
        reject(new Error('client went away'));
      };
      this.changes.once(event, onEvent);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return { StatusCode: code, Error: null };
  }
}
