// How a server closes a connection whose request body it stopped reading (a
// 413 sent while the client is still writing), shared by the daemon's API
// server and the registry.
import type { Socket } from 'node:net';

/**
 * Makes the close that Node's HTTP server does after a `Connection: close`
 * answer a lingering one, as Go's net/http does: the answer and a FIN go out,
 * what the client still sends is read and dropped, and the socket closes when
 * the client closes its side, or after `ms`. Closed at once, the socket would
 * reset the connection over the unread bytes, and a client still writing
 * gets the reset before it reads the answer (Node's client then never does).
 */
export function lingerOnClose(socket: Socket, ms: number): void {
  socket.destroySoon = function lingering(this: Socket): void {
    const close = (): void => { this.destroy(); };
    this.end();
    if (this.readableEnded) {
      this.once('finish', close);
      return;
    }
    this.resume();
    this.once('end', close);
    setTimeout(close, ms).unref();
  };
}
