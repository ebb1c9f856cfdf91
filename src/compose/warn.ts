// Compose's warnings as docker compose prints them (logrus' text format):
// `WARN[0000] msg` on a terminal, `time="…" level=warning msg="…"` otherwise.

/** RFC 3339 in local time, as logrus' default timestamp. */
function rfc3339(d: Date): string {
  const off = -d.getTimezoneOffset();
  const pad = (n: number): string => String(Math.abs(n)).padStart(2, '0');
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`;
}

/** logrus quotes a value with anything but letters, digits and -._/@^+ in it, as Go's %q. */
function logValue(s: string): string {
  return /^[A-Za-z0-9\-._/@^+]*$/.test(s) && s !== '' ? s : JSON.stringify(s);
}

export function warningLine(message: string, tty: boolean, now = new Date()): string {
  return tty ? `WARN[0000] ${message}\n` : `time=${logValue(rfc3339(now))} level=warning msg=${logValue(message)}\n`;
}

export function composeWarn(message: string): void {
  process.stderr.write(warningLine(message, process.stderr.isTTY === true));
}
