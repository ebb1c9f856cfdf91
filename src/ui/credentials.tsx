// Registry credentials for one pull or push, typed in the page: the
// dashboard keeps none (the CLI's live in its config, out of the browser's
// reach), and these go with that request only, as X-Registry-Auth.
import { useState } from 'preact/hooks';
import { registryAuth } from './api.ts';

export interface Credentials { username: string; password: string }

export function useCredentials(): [Credentials, (c: Credentials) => void, (ref: string) => Record<string, string>] {
  const [c, set] = useState<Credentials>({ username: '', password: '' });
  // The registry is the reference's first part when it names a host, else Docker Hub.
  const headers = (ref: string): Record<string, string> => {
    const first = ref.split('/')[0];
    const server = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'https://index.docker.io/v1/';
    return registryAuth(c.username, c.password, server);
  };
  return [c, set, headers];
}

export function CredentialFields({ id, value, onChange }: { id: string; value: Credentials; onChange: (c: Credentials) => void }) {
  return (
    <details class="credentials">
      <summary>Registry credentials (optional)</summary>
      <div class="bar">
        <label for={`${id}-user`}>Username</label>
        <input id={`${id}-user`} type="text" autocomplete="username" value={value.username} onInput={(e) => onChange({ ...value, username: (e.currentTarget as HTMLInputElement).value })} />
        <label for={`${id}-password`}>Password or token</label>
        <input id={`${id}-password`} type="password" autocomplete="current-password" value={value.password} onInput={(e) => onChange({ ...value, password: (e.currentTarget as HTMLInputElement).value })} />
      </div>
    </details>
  );
}
