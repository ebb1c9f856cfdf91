/* berth-shim: clients of shim.sock (the daemon, attaches, execs) and the start-up report on fd 3. */
#include "shim.h"

struct client **clients;
size_t nclients;
static size_t clients_cap;


void client_drop(struct client *c, const char *why)
{
	if (c->dead)
		return;
	probes_forget_client(c);
	if (why)
		say("dropping client %d: %s", c->fd, why);
	close_fd(&c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	c->dead = 1;
}

/* Frees dropped clients; only called where no client pointer is held. */
void clients_sweep(void)
{
	size_t j = 0;
	for (size_t i = 0; i < nclients; i++) {
		if (clients[i]->dead)
			free(clients[i]);
		else
			clients[j++] = clients[i];
	}
	nclients = j;
}

void clients_accept(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				say("accept: %s", strerror(errno));
			return;
		}
		if (nclients == clients_cap) {
			clients_cap = clients_cap ? clients_cap * 2 : 8;
			clients = xrealloc(clients, clients_cap * sizeof *clients);
		}
		struct client *c = xrealloc(NULL, sizeof *c);
		memset(c, 0, sizeof *c);
		c->fd = fd;
		clients[nclients++] = c;
		client_send(c, F_FEATURES, FEATURES, (uint32_t)strlen(FEATURES));
	}
}

void client_flush(struct client *c)
{
	while (!c->dead && buf_used(&c->out)) {
		ssize_t w = write(c->fd, c->out.data + c->out.head, buf_used(&c->out));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			client_drop(c, errno == EPIPE || errno == ECONNRESET ? NULL : strerror(errno));
			return;
		}
		buf_consume(&c->out, (size_t)w);
	}
}

void client_send(struct client *c, int type, const void *p, uint32_t n)
{
	unsigned char h[FRAME_HEADER] = { (unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
					   (unsigned char)(n >> 8), (unsigned char)n };
	if (c->dead)
		return;
	/* The container must never wait for a client: one that falls this far behind goes. */
	if (buf_used(&c->out) + FRAME_HEADER + n > CLIENT_OUT_MAX) {
		client_drop(c, "more than 8 MiB of output unread");
		return;
	}
	buf_append(&c->out, h, FRAME_HEADER);
	buf_append(&c->out, p, n);
	client_flush(c);
}

void client_reply(struct client *c, const char *fmt, ...)
{
	char msg[ERR_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	client_send(c, F_REPLY, msg, (uint32_t)strlen(msg));
}

void broadcast(int type, const void *p, uint32_t n)
{
	for (size_t i = 0; i < nclients; i++)
		client_send(clients[i], type, p, n);
}

/* Reads what the client sent and handles every complete frame in it. */
void client_read(struct client *c)
{
	char tmp[READ_CHUNK];
	ssize_t r = read(c->fd, tmp, sizeof tmp);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_drop(c, errno == ECONNRESET ? NULL : strerror(errno));
		return;
	}
	if (r == 0) {
		/* A half-close: the client may still want the output and the exit frame. */
		c->read_closed = 1;
		return;
	}
	buf_append(&c->in, tmp, (size_t)r);
	while (!c->dead && buf_used(&c->in) >= FRAME_HEADER) {
		const unsigned char *h = (const unsigned char *)c->in.data + c->in.head;
		uint32_t n = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
		if (n > CLIENT_FRAME_MAX) {
			client_drop(c, "frame too large");
			return;
		}
		if (buf_used(&c->in) < FRAME_HEADER + n)
			break;
		handle_frame(c, h[0], (const char *)h + FRAME_HEADER, n);
		if (!c->dead)
			buf_consume(&c->in, FRAME_HEADER + n);
	}
}

/* Sends what is queued with a deadline: the last output and the exit frame matter. */
void clients_flush_all(long long deadline)
{
	struct pollfd *p = xrealloc(NULL, (nclients + 1) * sizeof *p);
	for (;;) {
		size_t n = 0;
		for (size_t i = 0; i < nclients; i++) {
			if (!clients[i]->dead && buf_used(&clients[i]->out))
				p[n++] = (struct pollfd){ .fd = clients[i]->fd, .events = POLLOUT };
		}
		long long left = deadline - mono_ms();
		if (n == 0 || left <= 0)
			break;
		if (poll(p, n, (int)left) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < nclients; i++)
			client_flush(clients[i]);
	}
	free(p);
}

/* ------------------------------------------------------------------------ */
/* Start-up report on fd 3                                                  */
/* ------------------------------------------------------------------------ */

/* Writes the one start-up line (newlines in a message would break it) and closes fd 3. */
void report(const char *fmt, ...)
{
	char line[ERR_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	for (char *c = line; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	say("start-up result: %s", line);
	strcat(line, "\n");
	if (sync_fd >= 0 && write_all(sync_fd, line, strlen(line)) < 0)
		say("write start-up result: %s", strerror(errno));
	close_fd(&sync_fd);
}
