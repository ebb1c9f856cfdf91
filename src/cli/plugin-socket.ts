// Run by the docker CLI as its plugin, berth connects to the socket the CLI
// names in DOCKER_CLI_PLUGIN_SOCKET. The CLI does not pass its signals on to a
// plugin: when it is interrupted it closes that connection instead, and the
// plugin is to act as if it had been interrupted itself. A Ctrl-C at a
// terminal reaches both, so a close right after a real SIGINT is the same
// interrupt, not a second one (which would cut a graceful stop short).
import { connect } from 'node:net';

export function followPluginSocket(address: string | undefined): void {
  if (!address) return;
  let lastInterrupt = 0;
  // A listener replaces Node's default exit on SIGINT; when no command added
  // its own, this one keeps that default.
  const onSigint = () => {
    lastInterrupt = Date.now();
    if (process.listenerCount('SIGINT') === 1) process.exit(130);
  };
  process.on('SIGINT', onSigint);
  // `@name` is an abstract socket, as Go spells it; Node's spelling is a leading NUL.
  const s = connect(address.startsWith('@') ? '\0' + address.slice(1) : address);
  s.on('error', () => {}); // an older or absent CLI: nothing to follow
  s.on('connect', () => {
    s.unref(); // never what keeps the command running
    s.on('end', () => {
      setTimeout(() => {
        if (Date.now() - lastInterrupt > 1000) process.kill(process.pid, 'SIGINT');
      }, 100).unref();
    });
  });
  s.resume();
}
