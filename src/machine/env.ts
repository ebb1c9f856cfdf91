// `machine env`: the lines that point a shell's docker (or berth) CLI at a
// machine, in the forms docker-machine prints for each shell, and the
// comment that says how to use them.

export type Shell = 'bash' | 'fish' | 'powershell' | 'cmd' | 'tcsh' | 'emacs';

interface Form { prefix: string; delimiter: string; suffix: string }

const SET: Record<Shell, Form> = {
  bash: { prefix: 'export ', delimiter: '="', suffix: '"\n' },
  fish: { prefix: 'set -gx ', delimiter: ' "', suffix: '";\n' },
  powershell: { prefix: '$Env:', delimiter: ' = "', suffix: '"\n' },
  cmd: { prefix: 'SET ', delimiter: '=', suffix: '\n' },
  tcsh: { prefix: 'setenv ', delimiter: ' "', suffix: '";\n' },
  emacs: { prefix: '(setenv "', delimiter: '" "', suffix: '")\n' },
};

const UNSET: Record<Shell, Form> = {
  bash: { prefix: 'unset ', delimiter: '', suffix: '\n' },
  fish: { prefix: 'set -e ', delimiter: '', suffix: ';\n' },
  powershell: { prefix: 'Remove-Item Env:\\\\', delimiter: '', suffix: '\n' },
  cmd: { prefix: 'SET ', delimiter: '=', suffix: '\n' },
  tcsh: { prefix: 'unsetenv ', delimiter: '', suffix: ';\n' },
  emacs: { prefix: '(setenv "', delimiter: '" nil', suffix: ')\n' },
};

export const ENV_VARS = ['DOCKER_TLS_VERIFY', 'DOCKER_HOST', 'DOCKER_CERT_PATH', 'DOCKER_MACHINE_NAME'] as const;

/** --shell, else the basename of $SHELL; sh, bash, zsh, ksh and the rest of the POSIX family take `export`. */
export function detectShell(flag: string | undefined, envShell: string | undefined): { shell: Shell; guessed: boolean } {
  const name = flag || (envShell ? envShell.slice(envShell.lastIndexOf('/') + 1) : '');
  if (!name) return { shell: 'bash', guessed: true };
  if (name === 'fish' || name === 'powershell' || name === 'cmd' || name === 'tcsh' || name === 'emacs') return { shell: name, guessed: false };
  if (name === 'pwsh') return { shell: 'powershell', guessed: false };
  if (name === 'csh') return { shell: 'tcsh', guessed: false };
  return { shell: 'bash', guessed: false };
}

function usageHint(shell: Shell, commandLine: string): string {
  let cmd: string;
  let comment = '#';
  switch (shell) {
    case 'fish': cmd = `eval (${commandLine})`; break;
    case 'powershell': cmd = `& ${commandLine} | Invoke-Expression`; break;
    case 'cmd': cmd = `\t@FOR /f "tokens=*" %i IN ('${commandLine}') DO @%i`; comment = 'REM'; break;
    case 'emacs': cmd = `(with-temp-buffer (shell-command "${commandLine}" (current-buffer)) (eval-buffer))`; comment = ';;'; break;
    case 'tcsh': cmd = `eval \`${commandLine}\``; comment = ':'; break;
    default: cmd = `eval $(${commandLine})`;
  }
  return `${comment} Run this command to configure your shell: \n${comment} ${cmd}\n`;
}

export function envLines(shell: Shell, values: Record<(typeof ENV_VARS)[number], string>, commandLine: string): string {
  const f = SET[shell];
  return ENV_VARS.map((k) => `${f.prefix}${k}${f.delimiter}${values[k]}${f.suffix}`).join('') + usageHint(shell, commandLine);
}

export function unsetLines(shell: Shell, commandLine: string): string {
  const f = UNSET[shell];
  return ENV_VARS.map((k) => `${f.prefix}${k}${f.delimiter}${f.suffix}`).join('') + usageHint(shell, commandLine);
}
