/* berth-shim: the process's stdio: pipes or a pty, stdin queued from clients, output to the log. */
#include "shim.h"

/*
 * Pipes (without --tty) are made before the process exists, so stdin sent
 * before the start command is not lost. With --tty the runtime hands the pty
 * master over later and the runtime itself gets /dev/null.
 */
int stdio_prepare(char *err, size_t n)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int o[2] = { -1, -1 }, e[2] = { -1, -1 }, i[2] = { -1, -1 };
	if (null < 0) {
		snprintf(err, n, "/dev/null: %s", strerror(errno));
		return -1;
	}
	if (opt.tty) {
		/* Three fds, not one shared: each is closed on its own later. */
		io.child_in = null;
		io.child_out = fcntl(null, F_DUPFD_CLOEXEC, 3);
		io.child_err = fcntl(null, F_DUPFD_CLOEXEC, 3);
		if (io.child_out < 0 || io.child_err < 0) {
			snprintf(err, n, "dup: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0 || (opt.stdin_open && pipe2(i, O_CLOEXEC) < 0)) {
		snprintf(err, n, "pipe: %s", strerror(errno));
		int *all[] = { &null, &o[0], &o[1], &e[0], &e[1], &i[0], &i[1] };
		for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
			close_fd(all[k]);
		return -1;
	}
	io.out = o[0], io.child_out = o[1];
	io.err = e[0], io.child_err = e[1];
	if (opt.stdin_open) {
		io.child_in = i[0], io.in = i[1];
		close(null);
		fcntl(io.in, F_SETFL, O_NONBLOCK);
	} else {
		io.child_in = null;
	}
	fcntl(io.out, F_SETFL, O_NONBLOCK);
	fcntl(io.err, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Once the process holds its ends, ours must go, or EOF would never come. */
void stdio_release_child_ends(void)
{
	close_fd(&io.child_in);
	close_fd(&io.child_out);
	close_fd(&io.child_err);
}

void tty_apply_size(void)
{
	if (!opt.tty || io.out < 0 || !io.rows || !io.cols)
		return;
	struct winsize ws = { .ws_row = io.rows, .ws_col = io.cols };
	if (ioctl(io.out, TIOCSWINSZ, &ws) < 0)
		say("resize: %s", strerror(errno));
}


/* With --tty, stdin goes to the master too; a dup keeps the two roles separate. */
void tty_attach_stdin(void)
{
	if (!opt.tty || io.out < 0)
		return;
	tty_apply_size();
	if (opt.stdin_open && !io.stdin_done)
		io.in = fcntl(io.out, F_DUPFD_CLOEXEC, 3);
	stdin_flush();
}

/*
 * A terminal has no end of input to close; like a user typing ^D, send the
 * EOF character if the line discipline is canonical (twice after an
 * unfinished line: the first only ends the line).
 */
static void tty_send_eof(void)
{
	struct termios t;
	if (tcgetattr(io.in, &t) < 0 || !(t.c_lflag & ICANON))
		return;
	char eof[2] = { (char)t.c_cc[VEOF], (char)t.c_cc[VEOF] };
	if (write(io.in, eof, io.line_empty ? 1 : 2) < 0)
		say("tty EOF: %s", strerror(errno));
}

static void stdin_close(void)
{
	if (io.in >= 0 && opt.tty)
		tty_send_eof();
	close_fd(&io.in);
	io.stdin_done = 1;
	if (io.pending)
		buf_reset(io.pending);
}

void stdin_flush(void)
{
	struct buf *b = io.pending;
	while (io.in >= 0 && b && buf_used(b)) {
		ssize_t w = write(io.in, b->data + b->head, buf_used(b));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			/* EPIPE: the process closed its stdin; what is left can never be read. */
			stdin_close();
			return;
		}
		io.line_empty = b->data[b->head + (size_t)w - 1] == '\n';
		buf_consume(b, (size_t)w);
	}
	if (io.in >= 0 && io.close_requested)
		stdin_close();
}

void stdin_queue(const char *p, uint32_t n)
{
	if (!opt.stdin_open || io.stdin_done || io.close_requested)
		return;
	if (!io.pending)
		io.pending = buf_new();
	buf_append(io.pending, p, n);
	stdin_flush();
}

size_t stdin_backlog(void)
{
	return io.pending ? buf_used(io.pending) : 0;
}

/* Reads one chunk of output: to the log and to every client. Returns 0 at EOF. */
int output_pump(int fd, int stream)
{
	static char tmp[READ_CHUNK];
	ssize_t r = read(fd, tmp, sizeof tmp);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (r <= 0)
		return 0; /* EOF, or EIO from a pty master once every slave fd is closed */
	log_feed(stream, tmp, (size_t)r);
	broadcast(stream, tmp, (uint32_t)r);
	return 1;
}
