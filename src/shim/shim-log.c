/* berth-shim: docker's json-file log: entries, partial lines over 16 KiB, rotation. */
#include "shim.h"

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

int log_open(void)
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
void log_feed(int stream, const char *p, size_t n)
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
void log_flush_lines(void)
{
	for (int s = F_STDOUT; s <= F_STDERR; s++) {
		if (log_lines[s].len)
			log_entry(s, log_lines[s].data, log_lines[s].len);
		log_lines[s].len = 0;
	}
}
