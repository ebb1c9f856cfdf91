/*
 * berth-shim: healthcheck probes (frames 11 and 12).
 *
 * A probe is the one exec the daemon makes every interval, where only the
 * exit code and the first 4 KiB of output matter (dockerd keeps that much).
 * The container's shim runs `runtime exec` itself, without --detach, as its
 * own child: the process's stdout and stderr go to one pipe, the runtime's
 * log to another, the process spec comes in the frame and goes to the
 * runtime as a memfd. Nothing is written to disk but the runtime's pid file
 * (read only to kill a probe that outlives its timeout), and there is no
 * exec shim, socket or state directory: one frame each way, where an exec
 * costs two socket conversations, a directory and a process.json.
 *
 *   frame 11, daemon → shim: "<id> <timeout ms>\n<process JSON>"
 *   frame 12, shim → daemon: "<id> exit <code> <truncated 0|1>\n<output>"
 *                          | "<id> timeout\n" | "<id> error <message>\n"
 */
#include "shim.h"
#include <sys/mman.h>

#define PROBE_OUTPUT_MAX 4096
#define PROBE_LOG_MAX (16u << 10)

static struct probe {
	int active;
	unsigned long id;
	struct client *c;               /* who asked; NULL once it is gone */
	pid_t pid;                      /* the runtime's exec, our child */
	int out, log;                   /* read ends: the process's stdout+stderr, the runtime's log */
	int reaped, status;
	long long deadline;
	int timed_out;
	char output[PROBE_OUTPUT_MAX];
	size_t len;
	int truncated;
	char logtext[PROBE_LOG_MAX];
	size_t loglen;
	char pidfile[PATH_MAX];
} probes[PROBES_MAX];

/* A client that goes must not be written to by a probe it started. */
void probes_forget_client(struct client *c)
{
	for (int i = 0; i < PROBES_MAX; i++)
		if (probes[i].active && probes[i].c == c)
			probes[i].c = NULL;
}

static void probe_reply(struct probe *pr, const char *head, const char *body, size_t n)
{
	if (!pr->c || pr->c->dead)
		return;
	char *msg = xrealloc(NULL, strlen(head) + n + 1);
	memcpy(msg, head, strlen(head));
	memcpy(msg + strlen(head), body, n);
	client_send(pr->c, F_PROBE_RESULT, msg, (uint32_t)(strlen(head) + n));
	free(msg);
}

/* Reads what is there without blocking. Returns 0 at EOF or error, 1 otherwise. */
static int probe_read_output(struct probe *pr)
{
	char tmp[READ_CHUNK];
	for (;;) {
		ssize_t r = read(pr->out, tmp, sizeof tmp);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 1;
		if (r <= 0)
			return 0;
		size_t keep = PROBE_OUTPUT_MAX - pr->len < (size_t)r ? PROBE_OUTPUT_MAX - pr->len : (size_t)r;
		memcpy(pr->output + pr->len, tmp, keep);
		pr->len += keep;
		if (keep < (size_t)r)
			pr->truncated = 1;
	}
}

static int probe_read_log(struct probe *pr)
{
	for (;;) {
		char tmp[4096];
		ssize_t r = read(pr->log, tmp, sizeof tmp);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 1;
		if (r <= 0)
			return 0;
		size_t keep = PROBE_LOG_MAX - 1 - pr->loglen < (size_t)r ? PROBE_LOG_MAX - 1 - pr->loglen : (size_t)r;
		memcpy(pr->logtext + pr->loglen, tmp, keep);
		pr->loglen += keep;
	}
}

/* The runtime's last error-level message: the process never ran. */
static int probe_runtime_error(struct probe *pr, char *msg, size_t n)
{
	int found = 0;
	char level[32];
	pr->logtext[pr->loglen] = '\0';
	for (char *line = pr->logtext, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (json_field(line, "level", level, sizeof level) < 0 || (strcmp(level, "error") && strcmp(level, "fatal")))
			continue;
		if (json_field(line, "msg", msg, n) == 0 && msg[0])
			found = 1;
	}
	return found;
}

static void probe_finish(struct probe *pr)
{
	char head[ERR_MAX + 96], msg[ERR_MAX];
	if (pr->out >= 0)
		probe_read_output(pr); /* a background child may keep the pipe open: what is there, no more */
	if (pr->log >= 0)
		probe_read_log(pr);
	close_fd(&pr->out);
	close_fd(&pr->log);
	unlink(pr->pidfile);
	if (pr->timed_out) {
		snprintf(head, sizeof head, "%lu timeout\n", pr->id);
		probe_reply(pr, head, "", 0);
	} else if (pr->status != 0 && probe_runtime_error(pr, msg, sizeof msg)) {
		for (char *m = msg; *m; m++)
			if (*m == '\n' || *m == '\r')
				*m = ' ';
		snprintf(head, sizeof head, "%lu error %s\n", pr->id, msg);
		probe_reply(pr, head, "", 0);
	} else {
		snprintf(head, sizeof head, "%lu exit %d %d\n", pr->id, pr->status, pr->truncated);
		probe_reply(pr, head, pr->output, pr->len);
	}
	pr->active = 0;
}

/* Reaped by reap_children(): whether the pid was a probe's runtime. */
int probe_reaped(pid_t pid, int status)
{
	for (int i = 0; i < PROBES_MAX; i++) {
		struct probe *pr = &probes[i];
		if (pr->active && !pr->reaped && pr->pid == pid) {
			pr->reaped = 1;
			pr->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			probe_finish(pr);
			return 1;
		}
	}
	return 0;
}

/* The process outlived its timeout: killed (the pid the runtime wrote), or the runtime if it never said. */
static void probe_expire(struct probe *pr)
{
	char text[32] = "";
	int fd = open(pr->pidfile, O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
	close_fd(&fd);
	long p = r > 0 ? (text[r] = '\0', strtol(text, NULL, 10)) : 0;
	pr->timed_out = 1;
	pr->deadline = 0;
	if (p > 0 && p < INT_MAX)
		kill((pid_t)p, SIGKILL);
	kill(-pr->pid, SIGKILL);
}

void handle_probe(struct client *c, const char *p, uint32_t n)
{
	char head[64];
	const char *nl = memchr(p, '\n', n);
	unsigned long id = 0;
	long long timeout_ms = 0;
	struct probe *pr = NULL;
	size_t hl = nl ? (size_t)(nl - p) : 0;
	snprintf(head, sizeof head, "%.*s", (int)(hl < sizeof head - 1 ? hl : sizeof head - 1), p);
	if (!nl || sscanf(head, "%lu %lld", &id, &timeout_ms) != 2 || timeout_ms <= 0) {
		say("probe: a malformed frame");
		return;
	}
	for (int i = 0; i < PROBES_MAX && !pr; i++)
		if (!probes[i].active)
			pr = &probes[i];
	char err[ERR_MAX];
	int memfd = -1, outp[2] = { -1, -1 }, logp[2] = { -1, -1 }, null = -1;
	if (!pr || proc.exited) {
		snprintf(err, sizeof err, "%s", pr ? "the container has exited" : "too many probes running");
		goto fail;
	}
	memset(pr, 0, sizeof *pr);
	pr->out = pr->log = -1;
	memfd = memfd_create("process.json", MFD_CLOEXEC);
	const char *spec = nl + 1;
	size_t spec_len = n - hl - 1;
	if (memfd < 0 || write_all(memfd, spec, spec_len) < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(logp, O_CLOEXEC) < 0 ||
	    (null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, sizeof err, "probe set-up: %s", strerror(errno));
		goto fail;
	}
	char process[32], log[32];
	snprintf(process, sizeof process, "/proc/self/fd/%d", memfd);
	snprintf(log, sizeof log, "/proc/self/fd/%d", logp[1]);
	snprintf(pr->pidfile, sizeof pr->pidfile, "%s/probe-%d.pid", opt.state_dir, (int)(pr - probes));
	unlink(pr->pidfile);
	const char *sub[] = { "exec", "--process", process, "--pid-file", pr->pidfile, opt.id, NULL };
	const int keep[] = { memfd, logp[1], -1 };
	pr->pid = runtime_spawn_with(log, keep, sub, null, outp[1], outp[1]);
	if (pr->pid < 0) {
		snprintf(err, sizeof err, "fork: %s", strerror(errno));
		goto fail;
	}
	close(memfd);
	close(outp[1]);
	close(logp[1]);
	close(null);
	pr->out = outp[0];
	pr->log = logp[0];
	fcntl(pr->out, F_SETFL, O_NONBLOCK);
	fcntl(pr->log, F_SETFL, O_NONBLOCK);
	pr->active = 1;
	pr->id = id;
	pr->c = c;
	pr->deadline = mono_ms() + timeout_ms;
	return;
fail:
	{
		const int fds[] = { memfd, outp[0], outp[1], logp[0], logp[1], null };
		for (size_t k = 0; k < sizeof fds / sizeof fds[0]; k++)
			if (fds[k] >= 0)
				close(fds[k]);
		struct probe tmp = { .id = id, .c = c };
		snprintf(head, sizeof head, "%lu error ", id);
		char msg[ERR_MAX + 2];
		int len = snprintf(msg, sizeof msg, "%s\n", err);
		probe_reply(&tmp, head, msg, (size_t)len);
	}
}

/* The poll slots of running probes: their output and log pipes. */
size_t probes_poll_add(size_t *n, size_t slots[PROBES_MAX][2])
{
	size_t count = 0;
	for (int i = 0; i < PROBES_MAX; i++) {
		slots[i][0] = slots[i][1] = (size_t)-1;
		if (!probes[i].active)
			continue;
		if (probes[i].out >= 0)
			slots[i][0] = pfd_add(n, probes[i].out, POLLIN);
		if (probes[i].log >= 0)
			slots[i][1] = pfd_add(n, probes[i].log, POLLIN);
		count++;
	}
	return count;
}

void probes_handle(size_t slots[PROBES_MAX][2])
{
	for (int i = 0; i < PROBES_MAX; i++) {
		struct probe *pr = &probes[i];
		if (!pr->active)
			continue;
		if (slots[i][0] != (size_t)-1 && pfds[slots[i][0]].revents && !probe_read_output(pr))
			close_fd(&pr->out);
		if (slots[i][1] != (size_t)-1 && pfds[slots[i][1]].revents && !probe_read_log(pr))
			close_fd(&pr->log);
		if (pr->deadline && mono_ms() >= pr->deadline)
			probe_expire(pr);
	}
}

/* Milliseconds until the nearest probe deadline, or -1. */
int probes_timeout(void)
{
	long long best = -1;
	for (int i = 0; i < PROBES_MAX; i++) {
		if (!probes[i].active || !probes[i].deadline)
			continue;
		long long left = probes[i].deadline - mono_ms();
		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
	}
	return (int)best;
}
