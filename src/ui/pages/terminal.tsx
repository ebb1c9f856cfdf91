// A terminal into the container: an exec with a tty, its stream bridged by
// `berth ui` to a WebSocket; the exec's tty follows the panel's size.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { call, errorText } from '../api.ts';
import { ErrorLine } from '../common.tsx';

export function TerminalView({ id }: { id: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [shell, setShell] = useState('sh');
  const [session, setSession] = useState(0);
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState('');

  useEffect(() => {
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, screenReaderMode: true });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current!);
    fit.fit();
    let ws: WebSocket | undefined;
    let execId = '';
    let closed = false;
    const resize = (): void => {
      fit.fit();
      if (execId) void call('POST', `/exec/${execId}/resize`, { query: { h: term.rows, w: term.cols } }).catch(() => undefined);
    };
    const observer = new ResizeObserver(resize);
    observer.observe(host.current!);
    void (async () => {
      try {
        const { Id } = await call<{ Id: string }>('POST', `/containers/${id}/exec`, {
          body: { AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: [shell], Env: ['TERM=xterm-256color'], ConsoleSize: [term.rows, term.cols] },
        });
        if (closed) return;
        execId = Id;
        ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/exec/${Id}?h=${term.rows}&w=${term.cols}`);
        ws.binaryType = 'arraybuffer';
        ws.onopen = () => {
          setStatus(`connected: ${shell}`);
          term.focus();
        };
        ws.onmessage = (m) => term.write(new Uint8Array(m.data as ArrayBuffer));
        ws.onclose = (e) => {
          setStatus(e.code === 1000 ? 'the shell exited' : 'disconnected');
          if (e.code >= 4000) setError(e.reason);
        };
        term.onData((d) => ws?.readyState === WebSocket.OPEN && ws.send(new TextEncoder().encode(d)));
        term.onBinary((d) => ws?.readyState === WebSocket.OPEN && ws.send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
      } catch (err) {
        setError(errorText(err));
      }
    })();
    return () => {
      closed = true;
      observer.disconnect();
      ws?.close();
      term.dispose();
    };
  }, [id, session]);

  return (
    <div class="terminal">
      <div class="bar">
        <label>Shell <input type="text" value={shell} size={12} onChange={(e) => setShell((e.currentTarget as HTMLInputElement).value)} /></label>
        <button type="button" onClick={() => setSession(session + 1)}>Reconnect</button>
        <span class="muted" aria-live="polite" data-testid="terminal-status">{status}</span>
      </div>
      <ErrorLine error={error} />
      <div class="xterm-host" ref={host} data-testid="terminal" />
    </div>
  );
}
