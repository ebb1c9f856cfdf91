/*
 * berth-shim: the monitor of one container (create mode) or of one process
 * exec'd into a running container (exec mode).
 *
 * It runs the OCI runtime, becomes the subreaper of the process the runtime
 * starts, owns that process's stdio, writes Docker's json-file log, serves a
 * unix socket to the daemon and records the exit status on disk. The daemon
 * may die and come back at any time; nothing here depends on it.
 *
 * The contract (invocation, files, socket protocol, exit) is
 * docs/decisions/0002-container-monitor.md. Everything runs in one thread
 * around one poll() loop; no call in the loop blocks on a client or on the
 * container, only on short runtime invocations (create/start/exec/delete).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Frame types of the socket protocol. */
enum {
	F_STDIN = 0,
	F_STDOUT = 1,
	F_STDERR = 2,
	F_EXIT = 3,
	F_REPLY = 4,
	F_CLOSE_STDIN = 5,
	F_RESIZE = 6,
	F_START = 7,
	F_EXITED = 8,
	F_SPAWN_EXEC = 9,
	F_FEATURES = 10,
	F_PROBE = 11,
	F_PROBE_RESULT = 12,
};

/* Sent to every client as it connects: what this shim can do beyond the first protocol. */
#define FEATURES "spawn-exec probe"
/* How long a spawned exec shim may take to report its start-up. */
#define SPAWN_REPORT_MS 10000
#define SPAWN_ARGS_MAX 64

#define FRAME_HEADER 5
#define READ_CHUNK (64u << 10)
#define LOG_LINE_MAX (16u << 10)        /* Docker splits longer lines into partial entries */
#define CLIENT_OUT_MAX (8u << 20)       /* a slower reader is dropped */
#define CLIENT_FRAME_MAX (1u << 20)     /* larger incoming frames are a protocol error */
#define STDIN_HIGH_WATER (1u << 20)     /* stop reading clients while this much stdin waits */
#define BUF_KEEP (256u << 10)           /* an emptied buffer larger than this is freed */
#define DRAIN_MS 2000
#define FINAL_FLUSH_MS 2000
#define EXITED_FLUSH_MS 100
#define ERR_MAX 2048
/* A runtime invocation taking longer than this is hung (runc's own take well under a second). */
#define RUNTIME_TIMEOUT_DEFAULT_S 60
#define TIME_LEN 64

/* A byte queue: appended at the end, consumed from the front. */
struct buf {
	char *data;
	size_t head, len, cap;          /* unread bytes are data[head, len) */
};

/* ------------------------------------------------------------------------ */
/* Options and state                                                        */
/* ------------------------------------------------------------------------ */

static struct {
	char *id, *state_dir, *runtime, *runtime_root;
	/* Global options for the runtime (daemon.json runtimeArgs), before its subcommand. */
	char *runtime_args[8];
	size_t n_runtime_args;
	char *bundle, *rootfs_mount;    /* create mode */
	char *exec_process;             /* exec mode */
	char *log_path;
	char *log_attrs;                /* a JSON object for each entry's "attrs" (log-opt labels/env) */
	char *oom_events;               /* the cgroup's memory.oom_control (v1) or memory.events (v2) */
	long long log_max_size;
	long log_max_files;
	int tty, stdin_open;
	int remove_state_dir;           /* exec mode: the state dir goes once a client has the exit frame */
} opt = { .log_max_files = 1 };

/* Absolute paths inside the state dir that are handed to the runtime. */
static struct {
	char runtime_log[PATH_MAX];
	char runtime_pid[PATH_MAX];
	char console[64];               /* /proc/<shim pid>/cwd/console.sock */
	char rootfs[PATH_MAX];
} path;

/* The process's stdio as the shim sees it. */
static struct {
	int out, err;                   /* read ends; with --tty, out is the pty master */
	int in;                         /* write end of stdin; with --tty a dup of the master */
	int child_in, child_out, child_err; /* ends for the runtime, closed once handed on */
	struct buf *pending;            /* stdin the process has not accepted yet */
	int close_requested;            /* F_CLOSE_STDIN seen; close once pending is written */
	int stdin_done;                 /* stdin closed, or the process stopped reading it */
	int line_empty;                 /* with --tty: no byte written since the last newline */
	unsigned short rows, cols;      /* last requested tty size, for a pty that comes later */
} io = { .out = -1, .err = -1, .in = -1, .child_in = -1, .child_out = -1, .child_err = -1, .line_empty = 1 };

static struct {
	pid_t pid;                      /* the container init, or the exec'd process */
	int started, exited, exit_code;
	struct timespec finished_at;
	long long drain_deadline;
	int rootfs_mounted;
} proc;

static int sync_fd = -1;                /* fd 3: the start-up result for the daemon */
static int listen_fd = -1;
static int signal_fd = -1;
static FILE *diag;                      /* shim.log */

/* ------------------------------------------------------------------------ */
/* Small utilities                                                          */
/* ------------------------------------------------------------------------ */

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		/* Nothing sensible is left to do; a core is the best diagnostic. */
		abort();
	}
	return q;
}

static size_t buf_used(const struct buf *b)
{
	return b->len - b->head;
}

static void buf_append(struct buf *b, const void *p, size_t n)
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

static void buf_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void buf_reset(struct buf *b)
{
	b->head = b->len = 0;
	/* Do not keep a burst's worth of memory for the rest of the container's life. */
	if (b->cap > BUF_KEEP) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

static void buf_consume(struct buf *b, size_t n)
{
	b->head += n;
	if (b->head == b->len)
		buf_reset(b);
}

static struct buf *buf_new(void)
{
	struct buf *b = xrealloc(NULL, sizeof *b);
	memset(b, 0, sizeof *b);
	return b;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int write_all(int fd, const void *p, size_t n)
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

static struct timespec wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* RFC3339Nano in UTC as Go formats it: trailing zeros of the fraction trimmed, no dot for 0. */
static void format_time(struct timespec ts, char out[TIME_LEN])
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

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
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
static char *absolute(const char *p)
{
	char cwd[PATH_MAX];
	if (p[0] == '/' || !getcwd(cwd, sizeof cwd))
		return strdup(p);
	char *r = xrealloc(NULL, strlen(cwd) + strlen(p) + 2);
	sprintf(r, "%s/%s", cwd, p);
	return r;
}

/* Temp file, fsync, rename, fsync the dir: a reader sees the old content or the new, never half. */
static int write_file_atomic(const char *name, const char *content)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write_all(fd, content, strlen(content)) < 0 || fsync(fd) < 0) {
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
	int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir >= 0) {
		fsync(dir);
		close(dir);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */
/* ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p, or 0: Go's utf8.DecodeRune rules. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], min;
	size_t len;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, min = 0x80, c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, min = 0x800, c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

/*
 * A JSON string exactly as dockerd's json-file driver writes the "log" value
 * (its ffjson-derived encoder): `"` and `\` escaped, \n and \r short, every
 * other control byte (tab included) as \u00XX, <>& as \u003c \u003e \u0026,
 * U+2028/U+2029 escaped, each invalid UTF-8 byte as \ufffd.
 */
/* The escape for an ASCII byte, or 0 if it is written as is. */
static size_t json_escape_ascii(unsigned char c, char esc[8])
{
	static const char hex[] = "0123456789abcdef";
	if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&')
		return 0;
	esc[0] = '\\';
	if (c == '"' || c == '\\') {
		esc[1] = (char)c;
		return 2;
	}
	if (c == '\n' || c == '\r') {
		esc[1] = c == '\n' ? 'n' : 'r';
		return 2;
	}
	memcpy(esc + 1, "u00", 3);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	return 6;
}

static void json_append_string(struct buf *out, const unsigned char *s, size_t n)
{
	size_t start = 0, i = 0;
	buf_append(out, "\"", 1);
	while (i < n) {
		char esc[8];
		size_t esc_len, step = 1;
		if (s[i] < 0x80) {
			esc_len = json_escape_ascii(s[i], esc);
		} else {
			step = utf8_seq_len(s + i, n - i);
			if (step == 0) {
				step = 1;
				esc_len = 6;
				memcpy(esc, "\\ufffd", 6);
			} else if (step == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
				esc_len = 6;
				memcpy(esc, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			} else {
				esc_len = 0;
			}
		}
		if (esc_len) {
			buf_append(out, s + start, i - start);
			buf_append(out, esc, esc_len);
			start = i + step;
		}
		i += step;
	}
	buf_append(out, s + start, n - start);
	buf_append(out, "\"", 1);
}

static size_t utf8_encode(unsigned cp, char *out)
{
	if (cp < 0x80)
		return out[0] = (char)cp, 1;
	if (cp < 0x800)
		return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000)
		return out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
		       out[2] = (char)(0x80 | (cp & 0x3f)), 3;
	return out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
	       out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

/* Decodes the JSON string body at p (after its opening quote) into out. */
static void json_unescape(const char *p, char *out, size_t n)
{
	size_t o = 0;
	while (*p && *p != '"' && o + 5 < n) {
		if (*p != '\\') {
			out[o++] = *p++;
			continue;
		}
		char e = p[1];
		unsigned cp;
		p += 2;
		switch (e) {
		case 'n': case 'r': case 't': out[o++] = ' '; break; /* one line for the daemon */
		case 'b': case 'f': break;
		case 'u':
			if (hex4(p, &cp) < 0)
				return (void)(out[o] = '\0');
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
				unsigned lo;
				if (hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			o += utf8_encode(cp, out + o);
			break;
		case '\0': p--; break;
		default: out[o++] = e; break;
		}
	}
	out[o] = '\0';
}

/* The string value of "key" in a one-line JSON object (runc's and crun's log lines). */
static int json_field(const char *line, const char *key, char *out, size_t n)
{
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\"", key);
	for (const char *p = strstr(line, pat); p; p = strstr(p + 1, pat)) {
		const char *q = p + strlen(pat);
		while (*q == ' ')
			q++;
		if (*q++ != ':')
			continue;
		while (*q == ' ')
			q++;
		if (*q != '"')
			continue;
		json_unescape(q + 1, out, n);
		return 0;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* The json-file log                                                        */
/* ------------------------------------------------------------------------ */

struct log_line {
	char data[LOG_LINE_MAX];
	size_t len;
};

static struct {
	int fd;
	long long size;
	int write_failed;               /* reported once in shim.log, not per line */
	struct buf entry;               /* reused for every entry */
} jlog = { .fd = -1 };

/* The unfinished line of stdout (1) and stderr (2); apart from jlog to stay out of .data. */
static struct log_line log_lines[3];

static int log_open(void)
{
	jlog.fd = open(opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (jlog.fd < 0)
		return -1;
	struct stat st;
	jlog.size = fstat(jlog.fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

/* log.N-1 ... log.1 shift up one, log becomes log.1: max-files files in all. */
static void log_rotate(void)
{
	char from[PATH_MAX + 24], to[PATH_MAX + 24];
	if (opt.log_max_files <= 1) {
		if (ftruncate(jlog.fd, 0) < 0)
			say("truncate %s: %s", opt.log_path, strerror(errno));
		jlog.size = 0;
		return;
	}
	close_fd(&jlog.fd);
	for (long i = opt.log_max_files - 1; i > 1; i--) {
		snprintf(from, sizeof from, "%s.%ld", opt.log_path, i - 1);
		snprintf(to, sizeof to, "%s.%ld", opt.log_path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			say("rotate %s: %s", from, strerror(errno));
	}
	snprintf(to, sizeof to, "%s.1", opt.log_path);
	if (rename(opt.log_path, to) < 0)
		say("rotate %s: %s", opt.log_path, strerror(errno));
	if (log_open() < 0)
		say("reopen %s: %s", opt.log_path, strerror(errno));
}

static void log_entry(int stream, const char *p, size_t n)
{
	char t[TIME_LEN];
	struct buf *e = &jlog.entry;
	if (jlog.fd < 0)
		log_open(); /* a reopen after a rotation failed: retried with every entry */
	format_time(wall_now(), t);
	e->head = e->len = 0;
	buf_str(e, "{\"log\":");
	json_append_string(e, (const unsigned char *)p, n);
	buf_str(e, stream == F_STDERR ? ",\"stream\":\"stderr\"" : ",\"stream\":\"stdout\"");
	if (opt.log_attrs) {
		/* dockerd's order: log, stream, attrs, time. The daemon renders the object. */
		buf_str(e, ",\"attrs\":");
		buf_str(e, opt.log_attrs);
	}
	buf_str(e, ",\"time\":\"");
	buf_str(e, t);
	buf_str(e, "\"}\n");
	if (jlog.fd >= 0 && opt.log_max_size > 0 && jlog.size > 0 && jlog.size + (long long)e->len > opt.log_max_size)
		log_rotate();
	if (jlog.fd >= 0 && write_all(jlog.fd, e->data, e->len) == 0) {
		jlog.size += (long long)e->len;
		jlog.write_failed = 0;
	} else if (!jlog.write_failed) {
		jlog.write_failed = 1;
		say("write %s: %s (entries are lost until a write succeeds)", opt.log_path, strerror(errno));
	}
	buf_reset(e);
}

/* One entry per line; a line reaching 16 KiB is written as a partial entry (no newline). */
static void log_feed(int stream, const char *p, size_t n)
{
	if (!opt.log_path)
		return;
	struct log_line *l = &log_lines[stream];
	while (n) {
		size_t room = LOG_LINE_MAX - l->len;
		size_t scan = n < room ? n : room;
		const char *nl = memchr(p, '\n', scan);
		size_t take = nl ? (size_t)(nl - p) + 1 : scan;
		memcpy(l->data + l->len, p, take);
		l->len += take;
		p += take;
		n -= take;
		if (nl || l->len == LOG_LINE_MAX) {
			log_entry(stream, l->data, l->len);
			l->len = 0;
		}
	}
}

/* At EOF an unfinished line is still the process's output: write it as a partial entry. */
static void log_flush_lines(void)
{
	for (int s = F_STDOUT; s <= F_STDERR; s++) {
		if (log_lines[s].len)
			log_entry(s, log_lines[s].data, log_lines[s].len);
		log_lines[s].len = 0;
	}
}

/* ------------------------------------------------------------------------ */
/* Clients of shim.sock                                                     */
/* ------------------------------------------------------------------------ */

struct client {
	int fd;
	int dead;                       /* dropped; freed by clients_sweep() */
	int read_closed;                /* the peer shut down its sending side */
	struct buf in, out;
};

static struct client **clients;
static size_t nclients, clients_cap;

static void handle_frame(struct client *c, int type, const char *p, uint32_t n);
static void client_send(struct client *c, int type, const void *p, uint32_t n);
static void probes_forget_client(struct client *c);
static int probe_reaped(pid_t pid, int status);

static void client_drop(struct client *c, const char *why)
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
static void clients_sweep(void)
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

static void clients_accept(void)
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

static void client_flush(struct client *c)
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

static void client_send(struct client *c, int type, const void *p, uint32_t n)
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

static void client_reply(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void client_reply(struct client *c, const char *fmt, ...)
{
	char msg[ERR_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	client_send(c, F_REPLY, msg, (uint32_t)strlen(msg));
}

static void broadcast(int type, const void *p, uint32_t n)
{
	for (size_t i = 0; i < nclients; i++)
		client_send(clients[i], type, p, n);
}

/* Reads what the client sent and handles every complete frame in it. */
static void client_read(struct client *c)
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
static void clients_flush_all(long long deadline)
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
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
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

/* ------------------------------------------------------------------------ */
/* The OCI runtime                                                          */
/* ------------------------------------------------------------------------ */

/*
 * Starts `runtime --root R --log LOG --log-format json <sub...>` with the
 * given stdio; the fds in `keep` (ended by -1) stay open in it.
 */
static pid_t runtime_spawn_with(const char *log, const int *keep, const char *const *sub, int in, int out, int err)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = opt.runtime;
	argv[n++] = "--root";
	argv[n++] = opt.runtime_root;
	argv[n++] = "--log";
	argv[n++] = log;
	argv[n++] = "--log-format";
	argv[n++] = "json";
	for (size_t i = 0; i < opt.n_runtime_args; i++)
		argv[n++] = opt.runtime_args[i];
	for (size_t i = 0; sub[i] && n < 31; i++)
		argv[n++] = sub[i];
	argv[n] = NULL;

	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* Child. A process group of its own, so a hung runtime is killed with every helper it forked. */
	setpgid(0, 0);
	/* Dispositions and the mask survive exec: undo what the shim set for itself. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(127);
	for (; keep && *keep >= 0; keep++)
		if (fcntl(*keep, F_SETFD, 0) < 0)
			_exit(127);
	execvp(opt.runtime, (char *const *)argv);
	/* Where runtime_error() looks, in the runtime's own log format. */
	char msg[PATH_MAX + 128];
	int len = snprintf(msg, sizeof msg, "{\"level\":\"error\",\"msg\":\"cannot run %s: %s\"}\n", opt.runtime, strerror(errno));
	int fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0 && len > 0 && write(fd, msg, (size_t)len) < 0)
		_exit(126);
	_exit(127);
}

static pid_t runtime_spawn(const char *const *sub, int in, int out, int err)
{
	/* Only this invocation's messages should be found in the log afterwards. */
	int lf = open(path.runtime_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	close_fd(&lf);
	return runtime_spawn_with(path.runtime_log, NULL, sub, in, out, err);
}

/* Takes the pty master the runtime sends over the console socket. */
static void console_receive(int console_listen)
{
	int c = accept4(console_listen, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	char data[512];
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { data, sizeof data };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	ssize_t r;
	do
		r = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	struct cmsghdr *cm = r > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		int master;
		memcpy(&master, CMSG_DATA(cm), sizeof master);
		close_fd(&io.out);
		io.out = master;
		fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	} else {
		say("console socket: no file descriptor received");
	}
	close(c);
}

/* BERTH_RUNTIME_TIMEOUT (seconds, inherited from the daemon; 0: none), or the default. */
static long long runtime_timeout_s(void)
{
	const char *v = getenv("BERTH_RUNTIME_TIMEOUT");
	char *end;
	long long s = v && *v ? strtoll(v, &end, 10) : -1;
	return s >= 0 && v && !*end ? s : RUNTIME_TIMEOUT_DEFAULT_S;
}

#define RUNTIME_TIMED_OUT (-2)

/*
 * Waits for a runtime invocation, receiving the pty master meanwhile. SIGCHLD
 * wakes the poll; other children (the container itself) are left as zombies
 * for reap_children(), which runs at the top of every loop iteration.
 * Returns the exit status, 128+signal, -1, or RUNTIME_TIMED_OUT once the
 * runtime's process group is killed for outliving the timeout: a hung runtime
 * must not hang the container's start (and the client's request) forever.
 */
static int runtime_wait(pid_t pid, int console_listen)
{
	long long timeout = runtime_timeout_s();
	long long deadline = timeout ? mono_ms() + timeout * 1000 : 0;
	for (;;) {
		int status;
		if (deadline && mono_ms() > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return RUNTIME_TIMED_OUT;
		}
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			/* The master may have been sent after the last poll. */
			if (console_listen >= 0 && io.out < 0)
				console_receive(console_listen);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (r < 0 && errno != EINTR)
			return -1;
		struct pollfd p[2] = { { .fd = signal_fd, .events = POLLIN }, { .fd = console_listen, .events = POLLIN } };
		if (poll(p, console_listen >= 0 ? 2 : 1, 100) < 0)
			continue;
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(signal_fd, &si, sizeof si) > 0)
				;
		}
		if (console_listen >= 0 && p[1].revents)
			console_receive(console_listen);
	}
}

/* Whether the last failed runtime invocation logged an error of its own. */
static int runtime_logged_error;

/* The last error the runtime logged, or a generic message. */
static void runtime_error(const char *what, int status, char *err, size_t n)
{
	char line[8192], level[32], msg[ERR_MAX];
	snprintf(err, n, "%s %s failed (exit status %d)", opt.runtime, what, status);
	runtime_logged_error = 0;
	FILE *f = fopen(path.runtime_log, "re");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (json_field(line, "level", level, sizeof level) < 0)
			continue;
		if (strcmp(level, "error") && strcmp(level, "fatal"))
			continue;
		if (json_field(line, "msg", msg, sizeof msg) == 0 && msg[0]) {
			snprintf(err, n, "%s", msg);
			runtime_logged_error = 1;
		}
	}
	fclose(f);
}

/* Runs a runtime subcommand to completion. Returns 0, or -1 with a message in err. */
static int runtime_run(const char *const *sub, int in, int out, int err_fd, int console_listen, char *err, size_t n)
{
	pid_t pid = runtime_spawn(sub, in, out, err_fd);
	if (pid < 0) {
		snprintf(err, n, "fork: %s", strerror(errno));
		return -1;
	}
	runtime_logged_error = 0;
	int status = runtime_wait(pid, console_listen);
	if (status == 0)
		return 0;
	if (status == RUNTIME_TIMED_OUT)
		snprintf(err, n, "%s %s timed out after %llds", opt.runtime, sub[0], runtime_timeout_s());
	else
		runtime_error(sub[0], status, err, n);
	say("%s %s: %s", opt.runtime, sub[0], err);
	return -1;
}

/* A runtime subcommand on the container, with no stdio and no interest in details. */
static int runtime_simple(const char *cmd, const char *flag)
{
	const char *sub[] = { cmd, flag ? flag : opt.id, flag ? opt.id : NULL, NULL };
	char err[ERR_MAX];
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int r = runtime_run(sub, null, null, null, -1, err, sizeof err);
	close_fd(&null);
	return r;
}

static pid_t read_runtime_pid(void)
{
	char text[32] = "";
	int fd = open(path.runtime_pid, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t r = read(fd, text, sizeof text - 1);
	close(fd);
	unlink(path.runtime_pid); /* `pid`, written by us, is the one the daemon reads */
	if (r <= 0)
		return 0;
	text[r] = '\0';
	long p = strtol(text, NULL, 10);
	return p > 0 && p < INT_MAX ? (pid_t)p : 0;
}

/* The console socket lives in the state dir; the runtime reaches it through our cwd. */
static int console_listen_open(char *err, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, "console.sock");
	unlink(sa.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0) {
		snprintf(err, n, "console socket: %s", strerror(errno));
		close_fd(&fd);
		return -1;
	}
	return fd;
}

static void console_listen_close(int *fd)
{
	if (*fd >= 0)
		unlink("console.sock");
	close_fd(fd);
}

/* ------------------------------------------------------------------------ */
/* The process's stdio                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Pipes (without --tty) are made before the process exists, so stdin sent
 * before the start command is not lost. With --tty the runtime hands the pty
 * master over later and the runtime itself gets /dev/null.
 */
static int stdio_prepare(char *err, size_t n)
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
static void stdio_release_child_ends(void)
{
	close_fd(&io.child_in);
	close_fd(&io.child_out);
	close_fd(&io.child_err);
}

static void tty_apply_size(void)
{
	if (!opt.tty || io.out < 0 || !io.rows || !io.cols)
		return;
	struct winsize ws = { .ws_row = io.rows, .ws_col = io.cols };
	if (ioctl(io.out, TIOCSWINSZ, &ws) < 0)
		say("resize: %s", strerror(errno));
}

static void stdin_flush(void);

/* With --tty, stdin goes to the master too; a dup keeps the two roles separate. */
static void tty_attach_stdin(void)
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

static void stdin_flush(void)
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

static void stdin_queue(const char *p, uint32_t n)
{
	if (!opt.stdin_open || io.stdin_done || io.close_requested)
		return;
	if (!io.pending)
		io.pending = buf_new();
	buf_append(io.pending, p, n);
	stdin_flush();
}

static size_t stdin_backlog(void)
{
	return io.pending ? buf_used(io.pending) : 0;
}

/* Reads one chunk of output: to the log and to every client. Returns 0 at EOF. */
static int output_pump(int fd, int stream)
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

/* ------------------------------------------------------------------------ */
/* Container lifecycle                                                      */
/* ------------------------------------------------------------------------ */

static int rootfs_mount(char *err, size_t n)
{
	if (!opt.rootfs_mount)
		return 0;
	if (mount("overlay", path.rootfs, "overlay", 0, opt.rootfs_mount) < 0) {
		snprintf(err, n, "mount overlay on %s/rootfs: %s", opt.bundle, strerror(errno));
		return -1;
	}
	proc.rootfs_mounted = 1;
	return 0;
}

static void rootfs_unmount(void)
{
	if (!proc.rootfs_mounted)
		return;
	/* Detached: a process that still has it open (a leftover exec) must not keep it busy. */
	if (umount2(path.rootfs, MNT_DETACH) < 0)
		say("umount %s: %s", path.rootfs, strerror(errno));
	proc.rootfs_mounted = 0;
}

static int record_pid(pid_t pid, char *err, size_t n)
{
	char text[32];
	snprintf(text, sizeof text, "%d", (int)pid);
	if (write_file_atomic("pid", text) < 0) {
		snprintf(err, n, "write pid: %s", strerror(errno));
		return -1;
	}
	proc.pid = pid;
	return 0;
}

/*
 * A runtime that failed without logging (a wrapper script, a runtime that
 * only prints) said why on stderr, which is the process's stderr pipe: no
 * process ran, so its last line there is the runtime's, and the message.
 */
static void append_runtime_stderr(char *err, size_t n)
{
	char tail[ERR_MAX / 2];
	size_t len = 0;
	ssize_t r;
	if (io.err < 0)
		return;
	while ((r = read(io.err, tail + len, sizeof tail - 1 - len)) > 0) {
		len += (size_t)r;
		if (len == sizeof tail - 1) { /* keep the end: shift out the oldest half */
			memmove(tail, tail + len / 2, len - len / 2);
			len -= len / 2;
		}
	}
	while (len && (tail[len - 1] == '\n' || tail[len - 1] == '\r'))
		len--;
	tail[len] = 0;
	char *last = strrchr(tail, '\n');
	last = last ? last + 1 : tail;
	size_t used = strlen(err);
	if (*last && used < n)
		snprintf(err + used, n - used, ": %s", last);
}

/*
 * Runs `runtime create` (create mode) or `runtime exec --detach` (exec mode)
 * on the prepared stdio and records the new process's pid.
 */
static int process_launch(char *err, size_t n)
{
	const char *sub[16];
	size_t k = 0;
	int console = -1, rc;
	if (opt.tty && (console = console_listen_open(err, n)) < 0)
		return -1;
	if (opt.exec_process) {
		sub[k++] = "exec";
		sub[k++] = "--detach";
		sub[k++] = "--process";
		sub[k++] = opt.exec_process;
	} else {
		sub[k++] = "create";
		sub[k++] = "--bundle";
		sub[k++] = opt.bundle;
	}
	sub[k++] = "--pid-file";
	sub[k++] = path.runtime_pid;
	if (opt.tty) {
		sub[k++] = "--console-socket";
		sub[k++] = path.console;
	}
	sub[k++] = opt.id;
	sub[k] = NULL;
	unlink(path.runtime_pid);
	rc = runtime_run(sub, io.child_in, io.child_out, io.child_err, console, err, n);
	stdio_release_child_ends();
	console_listen_close(&console);
	if (rc < 0) {
		if (!runtime_logged_error)
			append_runtime_stderr(err, n);
		return -1;
	}
	pid_t pid = read_runtime_pid();
	if (pid <= 0) {
		snprintf(err, n, "%s %s wrote no pid file", opt.runtime, sub[0]);
		return -1;
	}
	if (opt.tty && io.out < 0) {
		snprintf(err, n, "%s %s sent no terminal", opt.runtime, sub[0]);
		return -1;
	}
	tty_attach_stdin();
	return record_pid(pid, err, n);
}

/* Start-up in create mode; on failure nothing is left: no runtime state, no mount. */
static int container_create(char *err, size_t n)
{
	if (rootfs_mount(err, n) < 0)
		return -1;
	if (process_launch(err, n) == 0)
		return 0;
	/* A failed create can leave a half-made container behind. */
	runtime_simple("delete", "--force");
	rootfs_unmount();
	return -1;
}

static void record_exit(int code)
{
	proc.exited = 1;
	proc.exit_code = code;
	proc.finished_at = wall_now();
	proc.drain_deadline = mono_ms() + DRAIN_MS;
	say("process %d exited: %d", (int)proc.pid, code);
}

/* Reaps every dead child; only the monitored process's status matters. */
static void reap_children(void)
{
	for (;;) {
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return;
		if (p == proc.pid && !proc.exited)
			record_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		else
			probe_reaped(p, status);
		/* Anything else was re-parented to us (runtime helpers): reaping is all it needs. */
	}
}

/*
 * --remove-state-dir: an exec whose exit frame a client (the daemon) has
 * read leaves nothing behind; the daemon then need not remove the directory
 * file by file itself. We are inside it: every entry (files the shim, the
 * runtime and the daemon put there), then the directory.
 */
static void remove_state_dir(void)
{
	DIR *d = opendir(".");
	struct dirent *e;
	if (diag) {
		fclose(diag);
		diag = NULL;
	}
	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(e->d_name);
	closedir(d);
	rmdir(opt.state_dir);
}

static void finish(void) __attribute__((noreturn));

/*
 * Whether the kernel's OOM killer killed a process of the container: the
 * cgroup's oom_kill counter, read before the runtime's delete removes the
 * cgroup (dockerd reports it as State.OOMKilled).
 */
static int oom_killed(void)
{
	char line[256];
	long long n = 0;
	FILE *f;
	if (!opt.oom_events || !(f = fopen(opt.oom_events, "re")))
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "oom_kill %lld", &n) == 1)
			break;
	fclose(f);
	return n > 0;
}

/*
 * The end: delete and unmount, record the exit for a daemon that may come
 * later, tell every client, go. exit.json is written before shim.sock is
 * removed, so a client that misses the exit frame always finds the file.
 */
static void finish(void)
{
	char t[TIME_LEN], json[128];
	log_flush_lines();
	close_fd(&io.out);
	close_fd(&io.err);
	close_fd(&io.in);
	stdio_release_child_ends();
	format_time(proc.finished_at, t);
	snprintf(json, sizeof json, "{\"exitCode\":%d,\"finishedAt\":\"%s\"%s}", proc.exit_code, t,
		 oom_killed() ? ",\"oomKilled\":true" : "");
	if (!opt.exec_process) {
		/*
		 * The process is gone and its output sent: say so before the
		 * runtime's delete, which takes a while. A client that only needs
		 * the status and output (a build step) goes on; the exit frame
		 * still means "cleaned up".
		 */
		broadcast(F_EXITED, json, (uint32_t)strlen(json));
		clients_flush_all(mono_ms() + EXITED_FLUSH_MS);
		if (runtime_simple("delete", "--force") < 0)
			say("the runtime could not delete the container");
		rootfs_unmount();
	}
	if (write_file_atomic("exit.json", json) < 0)
		say("write exit.json: %s", strerror(errno));
	unlink("shim.sock");
	clients_accept(); /* connections already queued still get the exit frame */
	broadcast(F_EXIT, json, (uint32_t)strlen(json));
	clients_flush_all(mono_ms() + FINAL_FLUSH_MS);
	int delivered = 0;
	for (size_t i = 0; i < nclients; i++) {
		delivered |= !clients[i]->dead && !buf_used(&clients[i]->out);
		client_drop(clients[i], NULL);
	}
	say("done: %s", json);
	if (opt.remove_state_dir && delivered)
		remove_state_dir();
	exit(0);
}

/* An exec whose runtime invocation failed never ran: 126, as Docker reports it. */
static void exec_start(struct client *c)
{
	char err[ERR_MAX];
	if (process_launch(err, sizeof err) < 0) {
		client_reply(c, "error %s", err);
		record_exit(126);
		finish();
	}
	proc.started = 1;
	client_reply(c, "ok %d", (int)proc.pid);
}

/*
 * A failed `runtime start` leaves a created container nobody can use; kill it
 * so the usual exit path cleans up after it.
 */
static void container_start(struct client *c)
{
	const char *sub[] = { "start", opt.id, NULL };
	char err[ERR_MAX];
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int rc = runtime_run(sub, null, null, null, -1, err, sizeof err);
	close_fd(&null);
	if (rc < 0) {
		client_reply(c, "error %s", err);
		if (!proc.exited && kill(proc.pid, SIGKILL) < 0)
			say("kill %d: %s", (int)proc.pid, strerror(errno));
		return;
	}
	proc.started = 1;
	client_reply(c, "ok %d", (int)proc.pid);
}

static void handle_start(struct client *c)
{
	if (proc.started)
		client_reply(c, "ok %d", (int)proc.pid);
	else if (proc.exited)
		client_reply(c, "error the process has already exited");
	else if (opt.exec_process)
		exec_start(c);
	else
		container_start(c);
}

static void handle_resize(const char *p, uint32_t n)
{
	char text[32];
	unsigned rows, cols;
	snprintf(text, sizeof text, "%.*s", (int)(n < sizeof text - 1 ? n : sizeof text - 1), p);
	if (sscanf(text, "%u %u", &rows, &cols) != 2 || rows > 0xffff || cols > 0xffff)
		return;
	io.rows = (unsigned short)rows;
	io.cols = (unsigned short)cols;
	tty_apply_size();
}

/*
 * Frame 9: start another berth-shim (an exec's, whose arguments are the
 * payload, NUL-separated) and reply with its start-up line. The daemon asks
 * the container's own shim rather than forking itself for every exec (a
 * healthcheck is one a second): a fork of this small process is cheap, one
 * of the daemon's is not. The new shim is our child until it exits (reaped
 * with the rest) and monitors its process exactly as if the daemon had
 * started it; waiting for its report is short, as a runtime call is.
 */
static void handle_spawn_exec(struct client *c, const char *p, uint32_t n)
{
	char *args = xrealloc(NULL, (size_t)n + 1);
	char *argv[SPAWN_ARGS_MAX + 2];
	size_t argc = 0;
	int fds[2];
	memcpy(args, p, n);
	args[n] = '\0';
	argv[argc++] = (char *)"berth-shim";
	for (char *a = args; a < args + n && argc <= SPAWN_ARGS_MAX; a += strlen(a) + 1)
		argv[argc++] = a;
	argv[argc] = NULL;
	if (argc > SPAWN_ARGS_MAX || pipe2(fds, O_CLOEXEC) < 0) {
		client_reply(c, "error %s", argc > SPAWN_ARGS_MAX ? "too many arguments" : strerror(errno));
		free(args);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* Child: a fresh process as the daemon would start it (fd 3 the report, 0-2 /dev/null). */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		if (fds[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(fds[1], 3) < 0)
			_exit(127);
		close_range(4, ~0U, 0);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	free(args);
	if (pid < 0) {
		client_reply(c, "error fork: %s", strerror(errno));
		close(fds[0]);
		return;
	}
	char line[ERR_MAX + 64];
	size_t len = 0;
	long long deadline = mono_ms() + SPAWN_REPORT_MS;
	for (;;) {
		long long left = deadline - mono_ms();
		struct pollfd pf = { .fd = fds[0], .events = POLLIN };
		if (left <= 0 || len == sizeof line - 1)
			break;
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t got = read(fds[0], line + len, sizeof line - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fds[0]);
	line[len] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (!strncmp(line, "ok", 2) || !strncmp(line, "error ", 6)) {
		client_reply(c, "%s", line);
	} else {
		/* Hung or gone without a word: it must not live on unmonitored by anyone. */
		kill(pid, SIGKILL);
		client_reply(c, "error shim exited without a result%s%s", len ? ": " : "", line);
	}
}

static void handle_probe(struct client *c, const char *p, uint32_t n);

static void handle_frame(struct client *c, int type, const char *p, uint32_t n)
{
	switch (type) {
	case F_STDIN:
		stdin_queue(p, n);
		break;
	case F_CLOSE_STDIN:
		io.close_requested = 1;
		stdin_flush();
		break;
	case F_RESIZE:
		handle_resize(p, n);
		break;
	case F_START:
		handle_start(c);
		break;
	case F_SPAWN_EXEC:
		handle_spawn_exec(c, p, n);
		break;
	case F_PROBE:
		handle_probe(c, p, n);
		break;
	default:
		break; /* frames the shim only sends, or from a newer daemon: ignored */
	}
}

/* ------------------------------------------------------------------------ */
/* Event loop                                                               */
/* ------------------------------------------------------------------------ */

static struct pollfd *pfds;
static size_t pfds_cap;

static size_t pfd_add(size_t *n, int fd, short events)
{
	if (*n == pfds_cap) {
		pfds_cap = pfds_cap ? pfds_cap * 2 : 16;
		pfds = xrealloc(pfds, pfds_cap * sizeof *pfds);
	}
	pfds[*n] = (struct pollfd){ .fd = fd, .events = events };
	return (*n)++;
}

#include "shim-probe.c"

static int drained(void)
{
	return (io.out < 0 && io.err < 0) || mono_ms() >= proc.drain_deadline;
}

static void handle_output(size_t slot, int *fd, int stream)
{
	if (pfds[slot].revents && !output_pump(*fd, stream))
		close_fd(fd);
}

static void handle_clients(size_t first, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct client *c = clients[i];
		short ev = pfds[first + i].revents;
		if (ev & POLLOUT)
			client_flush(c);
		if (!c->dead && (ev & POLLIN))
			client_read(c);
		/* Both directions shut (POLLHUP) or broken: nothing more to say to it. */
		if (!c->dead && (ev & (POLLHUP | POLLERR | POLLNVAL)) && !(ev & POLLIN))
			client_drop(c, NULL);
	}
}

/*
 * How long an exec's shim waits for its start (the daemon sends it at once):
 * BERTH_SHIM_EXEC_START_WAIT seconds, or two minutes.
 */
#define EXEC_START_WAIT_DEFAULT_S 120
static long long exec_start_wait_s;
static long long exec_start_deadline;

static void event_loop(void)
{
	const char *wait = getenv("BERTH_SHIM_EXEC_START_WAIT");
	char *end = (char *)"";
	exec_start_wait_s = wait && *wait ? strtoll(wait, &end, 10) : -1;
	if (exec_start_wait_s <= 0 || *end)
		exec_start_wait_s = EXEC_START_WAIT_DEFAULT_S;
	exec_start_deadline = mono_ms() + exec_start_wait_s * 1000;
	for (;;) {
		reap_children();
		if (proc.exited && drained())
			finish();

		size_t n = 0;
		size_t s_sig = pfd_add(&n, signal_fd, POLLIN);
		size_t s_listen = pfd_add(&n, listen_fd, POLLIN);
		size_t s_out = pfd_add(&n, io.out, POLLIN);
		size_t s_err = pfd_add(&n, io.err, POLLIN);
		size_t s_in = pfd_add(&n, stdin_backlog() ? io.in : -1, POLLOUT);
		/*
		 * Back-pressure: while the process does not read its stdin, stop
		 * reading what is sent for it. Not before the start, though: the
		 * start frame itself may be queued behind that stdin.
		 */
		int throttle = proc.started && io.in >= 0 && stdin_backlog() >= STDIN_HIGH_WATER;
		short client_in = throttle ? 0 : POLLIN;
		size_t probe_slots[PROBES_MAX][2];
		probes_poll_add(&n, probe_slots);
		size_t s_clients = n, count = nclients;
		for (size_t i = 0; i < count; i++) {
			struct client *c = clients[i];
			pfd_add(&n, c->fd, (short)((c->read_closed ? 0 : client_in) | (buf_used(&c->out) ? POLLOUT : 0)));
		}

		int timeout = -1;
		if (proc.exited) {
			long long left = proc.drain_deadline - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		} else if (opt.exec_process && !proc.started) {
			/*
			 * An exec whose start never comes (its daemon died or lost the
			 * connection between launching this shim and starting it) would
			 * wait here for ever: it ends as one that never ran.
			 */
			long long left = exec_start_deadline - mono_ms();
			if (left <= 0) {
				say("no start within %lld s: giving up", exec_start_wait_s);
				record_exit(126);
				continue;
			}
			timeout = (int)left;
		}
		int probe_wait = probes_timeout();
		if (probe_wait >= 0 && (timeout < 0 || probe_wait < timeout))
			timeout = probe_wait;
		if (poll(pfds, n, timeout) < 0) {
			if (errno != EINTR)
				say("poll: %s", strerror(errno));
			continue;
		}

		if (pfds[s_sig].revents) {
			struct signalfd_siginfo si;
			while (read(signal_fd, &si, sizeof si) > 0)
				;
		}
		handle_output(s_out, &io.out, F_STDOUT);
		handle_output(s_err, &io.err, F_STDERR);
		if (pfds[s_in].revents)
			stdin_flush();
		probes_handle(probe_slots);
		handle_clients(s_clients, count);
		clients_sweep();
		if (pfds[s_listen].revents)
			clients_accept();
	}
}

/* ------------------------------------------------------------------------ */
/* Start-up                                                                 */
/* ------------------------------------------------------------------------ */

static const char usage[] =
	"usage: berth-shim --id ID --state-dir DIR --runtime PATH --runtime-root DIR [--runtime-arg ARG]... "
	"(--bundle DIR [--rootfs-mount OPTIONS] | --exec-process FILE [--remove-state-dir]) [--tty] [--stdin] "
	"[--log-path FILE [--log-max-size BYTES] [--log-max-files N] [--log-attrs JSON]] [--oom-events FILE]";

static int parse_number(const char *s, long long min, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min)
		return -1;
	*out = v;
	return 0;
}

/* Returns 0, or -1 with a message in err. */
static int parse_options(int argc, char **argv, char *err, size_t n)
{
	static const struct {
		const char *name;
		char **field;
	} strings[] = {
		{ "--id", &opt.id }, { "--state-dir", &opt.state_dir }, { "--runtime", &opt.runtime },
		{ "--runtime-root", &opt.runtime_root }, { "--bundle", &opt.bundle }, { "--rootfs-mount", &opt.rootfs_mount },
		{ "--exec-process", &opt.exec_process }, { "--log-path", &opt.log_path }, { "--log-attrs", &opt.log_attrs },
		{ "--oom-events", &opt.oom_events },
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t k;
		long long num;
		for (k = 0; k < sizeof strings / sizeof strings[0] && strcmp(a, strings[k].name); k++)
			;
		if (k < sizeof strings / sizeof strings[0] && v) {
			*strings[k].field = argv[++i];
		} else if (!strcmp(a, "--runtime-arg") && v && opt.n_runtime_args < sizeof opt.runtime_args / sizeof opt.runtime_args[0]) {
			opt.runtime_args[opt.n_runtime_args++] = argv[++i];
		} else if (!strcmp(a, "--tty")) {
			opt.tty = 1;
		} else if (!strcmp(a, "--stdin")) {
			opt.stdin_open = 1;
		} else if (!strcmp(a, "--remove-state-dir")) {
			opt.remove_state_dir = 1;
		} else if (!strcmp(a, "--log-max-size") && v && parse_number(v, 0, &num) == 0) {
			opt.log_max_size = num, i++;
		} else if (!strcmp(a, "--log-max-files") && v && parse_number(v, 1, &num) == 0 && num < 1000000) {
			opt.log_max_files = (long)num, i++;
		} else {
			snprintf(err, n, "bad argument %s; %s", a, usage);
			return -1;
		}
	}
	if (!opt.id || !opt.state_dir || !opt.runtime || !opt.runtime_root || !opt.bundle == !opt.exec_process ||
	    (opt.rootfs_mount && !opt.bundle) || (opt.remove_state_dir && !opt.exec_process)) {
		snprintf(err, n, "%s", usage);
		return -1;
	}
	/* Every path is used after the chdir into the state dir, and by a runtime that chdirs itself. */
	opt.state_dir = absolute(opt.state_dir);
	opt.runtime_root = absolute(opt.runtime_root);
	if (strchr(opt.runtime, '/'))
		opt.runtime = absolute(opt.runtime);
	if (opt.bundle)
		opt.bundle = absolute(opt.bundle);
	if (opt.exec_process)
		opt.exec_process = absolute(opt.exec_process);
	if (opt.log_path)
		opt.log_path = absolute(opt.log_path);
	return 0;
}

/* fds 0-2 must be taken, or a pipe could land there and be clobbered by dup2 in a child. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", O_RDWR);
			if (n >= 0 && n != fd)
				close(n);
		}
	}
}

static int setup_signals(void)
{
	sigset_t chld;
	/* A client gone mid-write must be an EPIPE, not the end of the monitor. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	signal_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	return signal_fd < 0 ? -1 : 0;
}

static int listen_socket(char *err, size_t n)
{
	/* Relative to the state dir: an absolute path could exceed sun_path's 108 bytes. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, "shim.sock");
	unlink(sa.sun_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(listen_fd, 64) < 0) {
		snprintf(err, n, "listen on %s/shim.sock: %s", opt.state_dir, strerror(errno));
		return -1;
	}
	chmod(sa.sun_path, 0600);
	return 0;
}

static void set_paths(void)
{
	snprintf(path.runtime_log, sizeof path.runtime_log, "%s/runtime.log", opt.state_dir);
	snprintf(path.runtime_pid, sizeof path.runtime_pid, "%s/runtime.pid", opt.state_dir);
	snprintf(path.console, sizeof path.console, "/proc/%d/cwd/console.sock", (int)getpid());
	if (opt.bundle)
		snprintf(path.rootfs, sizeof path.rootfs, "%s/rootfs", opt.bundle);
}

/* Everything up to the start-up report. Returns 0, or -1 with a message in err. */
static int start_up(char *err, size_t n)
{
	char pid[32];
	if (chdir(opt.state_dir) < 0) {
		snprintf(err, n, "state dir %s: %s", opt.state_dir, strerror(errno));
		return -1;
	}
	diag = fopen("shim.log", "ae");
	say("berth-shim for %s (%s mode)", opt.id, opt.exec_process ? "exec" : "create");
	set_paths();
	if (setup_signals() < 0) {
		snprintf(err, n, "signalfd: %s", strerror(errno));
		return -1;
	}
	/* Orphans of the runtime (the container init, the exec'd process) become our children. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		snprintf(err, n, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return -1;
	}
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	if (write_file_atomic("shim.pid", pid) < 0) {
		snprintf(err, n, "write shim.pid: %s", strerror(errno));
		return -1;
	}
	if (listen_socket(err, n) < 0)
		return -1;
	if (opt.log_path && log_open() < 0) {
		snprintf(err, n, "open log %s: %s", opt.log_path, strerror(errno));
		return -1;
	}
	if (stdio_prepare(err, n) < 0)
		return -1;
	if (!opt.exec_process && container_create(err, n) < 0)
		return -1;
	return 0;
}

/* A failed start-up leaves only shim.log (diagnostics) in the state dir. */
static void start_up_cleanup(void)
{
	static const char *const files[] = { "shim.sock", "shim.pid", "pid", "runtime.pid", "runtime.log", "console.sock" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		unlink(files[i]);
}

int main(int argc, char **argv)
{
	char err[ERR_MAX];
	ensure_std_fds();
	if (fcntl(3, F_SETFD, FD_CLOEXEC) == 0)
		sync_fd = 3;
	if (parse_options(argc, argv, err, sizeof err) < 0) {
		report("error %s", err);
		if (sync_fd < 0)
			fprintf(stderr, "berth-shim: %s\n", err);
		return 1;
	}
	/* Our own session: nothing aimed at the launcher's terminal or process group reaches us. */
	if (getsid(0) != getpid())
		setsid();
	if (start_up(err, sizeof err) < 0) {
		if (chdir(opt.state_dir) == 0)
			start_up_cleanup();
		report("error %s", err);
		return 1;
	}
	report("ok %d", (int)proc.pid);
	event_loop();
	return 0;
}
