/* berth-shim: small utilities: byte queues, fds, clocks, the diagnostic log, atomic files. */
#include "shim.h"

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		/* Nothing sensible is left to do; a core is the best diagnostic. */
		abort();
	}
	return q;
}

size_t buf_used(const struct buf *b)
{
	return b->len - b->head;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap && b->head) {
		memmove(b->data, b->data + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_reset(struct buf *b)
{
	b->head = b->len = 0;
	/* Do not keep a burst's worth of memory for the rest of the container's life. */
	if (b->cap > BUF_KEEP) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

void buf_consume(struct buf *b, size_t n)
{
	b->head += n;
	if (b->head == b->len)
		buf_reset(b);
}

struct buf *buf_new(void)
{
	struct buf *b = xrealloc(NULL, sizeof *b);
	memset(b, 0, sizeof *b);
	return b;
}

void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

struct timespec wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* RFC3339Nano in UTC as Go formats it: trailing zeros of the fraction trimmed, no dot for 0. */
void format_time(struct timespec ts, char out[TIME_LEN])
{
	struct tm tm;
	char frac[16];
	gmtime_r(&ts.tv_sec, &tm);
	size_t l = strftime(out, TIME_LEN - sizeof frac - 1, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ts.tv_nsec) {
		size_t f = (size_t)snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
		while (frac[f - 1] == '0')
			f--;
		memcpy(out + l, frac, f);
		l += f;
	}
	out[l++] = 'Z';
	out[l] = '\0';
}

void say(const char *fmt, ...)
{
	char t[TIME_LEN];
	va_list ap;
	if (!diag)
		return;
	format_time(wall_now(), t);
	fprintf(diag, "%s [%d] ", t, (int)getpid());
	va_start(ap, fmt);
	vfprintf(diag, fmt, ap);
	va_end(ap);
	fputc('\n', diag);
	fflush(diag);
}

/* Makes a path absolute against the start-up cwd: the shim chdirs into the state dir. */
char *absolute(const char *p)
{
	char cwd[PATH_MAX];
	if (p[0] == '/' || !getcwd(cwd, sizeof cwd))
		return strdup(p);
	char *r = xrealloc(NULL, strlen(cwd) + strlen(p) + 2);
	sprintf(r, "%s/%s", cwd, p);
	return r;
}

/*
 * Temp file, rename: a reader sees the old content or the new, never half,
 * whichever process dies meanwhile (the daemon, killed -9, reads the files
 * when it comes back). No fsync: every file here (shim.pid, pid, exit.json)
 * is in the state dir under the exec root, /run/berth by default, a tmpfs a
 * host crash empties, as dockerd's and containerd's state under /run; the
 * processes they describe do not outlive a host crash either, and their
 * readers take a missing or empty file for "no such process" (the daemon's
 * own record, in the data root, holds the exit once it has seen it). The
 * six fsyncs (three files, each with its directory) were on every
 * container's start and exit path, at 2-20 ms each on a busy disk.
 */
int write_file_atomic(const char *name, const char *content)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write_all(fd, content, strlen(content)) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	close(fd);
	if (rename(tmp, name) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}
