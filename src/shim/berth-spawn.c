/*
 * berth-spawn: the daemon's process launcher (src/files/spawner.ts).
 *
 * Node's spawn forks the whole daemon and then blocks its event loop until
 * the child has exec'd (libuv reads the child's exec-error pipe). On a busy
 * 2-core machine that is milliseconds per command, and a container's start
 * and removal run several (ip, nsenter, umount, the shim): a batch of starts
 * spent a quarter of its wall time with the daemon's loop stuck in spawn.
 * This small process forks instead (its page tables are tiny) and never
 * waits for a child: exec failures, output and exits all come through poll.
 *
 * Protocol, on stdin/stdout, native byte order (the daemon is on this host):
 *   request:  u32 len, u32 id, u8 flags, u32 argc, argc NUL-terminated
 *             strings (argv[0] is looked up on PATH), u32 input length
 *             (0xffffffff: stdin is /dev/null) and the input's bytes.
 *             flags & 1: detached (a new session, stdio on /dev/null, fd 3
 *             a pipe whose bytes are the answer, sent when it closes, with
 *             the pid; the process is not waited for beyond that).
 *             Otherwise stdout and stderr are pipes, LC_ALL=C, and the
 *             answer is sent once the process has exited and both closed.
 *             flags & 2: argv[0] names one of the builtins below, run in a
 *             forked child of this process with no exec (a removal's
 *             clean-up ran two tools, each a dynamic binary's start-up).
 *   response: u32 len, u32 id, u8 kind (0 exit code, 1 killed by signal,
 *             2 could not exec: errno, 3 detached and started: pid),
 *             i32 value, u32 n, stdout (or fd 3) bytes, u32 n, stderr bytes.
 * It exits when its stdin closes (the daemon is gone) or the daemon dies
 * (PR_SET_PDEATHSIG); commands still running go on without it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define F_DETACHED 1u
#define F_BUILTIN 2u
#define NO_INPUT 0xffffffffu

struct bytes {
	char *p;
	size_t len, cap;
};

struct job {
	uint32_t id;
	pid_t pid;
	int detached;
	int out_fd, err_fd, in_fd, exec_fd; /* -1 once closed */
	struct bytes out, err;
	char *in;
	size_t in_len, in_off;
	int exited, status, exec_errno;
	int done; /* answered: freed after this turn of the loop */
};

static struct job **jobs;
static size_t njobs;
static struct bytes req;

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		abort();
	return q;
}

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_u32(struct bytes *b, uint32_t v)
{
	put(b, &v, 4);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, -1);
			continue;
		}
		if (w <= 0)
			_exit(0); /* the daemon is gone */
		p += w;
		n -= (size_t)w;
	}
}

static void respond(struct job *j, uint8_t kind, int32_t value)
{
	struct bytes r = { 0 };
	put_u32(&r, 0);
	put_u32(&r, j->id);
	put(&r, &kind, 1);
	put(&r, &value, 4);
	put_u32(&r, (uint32_t)j->out.len);
	put(&r, j->out.p, j->out.len);
	put_u32(&r, (uint32_t)j->err.len);
	put(&r, j->err.p, j->err.len);
	uint32_t len = (uint32_t)(r.len - 4);
	memcpy(r.p, &len, 4);
	write_all(1, r.p, r.len);
	free(r.p);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void free_job(struct job *j)
{
	close_fd(&j->out_fd);
	close_fd(&j->err_fd);
	close_fd(&j->in_fd);
	close_fd(&j->exec_fd);
	free(j->out.p);
	free(j->err.p);
	free(j->in);
	free(j);
}

/* Forgets the answered jobs (between turns of the loop, so no pollfd points at a freed one). */
static void sweep(void)
{
	size_t k = 0;
	for (size_t i = 0; i < njobs; i++) {
		if (jobs[i]->done)
			free_job(jobs[i]);
		else
			jobs[k++] = jobs[i];
	}
	njobs = k;
}

/* Answers a job once everything it waits for has happened. */
static int settle(struct job *j)
{
	if (j->done || j->exec_fd >= 0)
		return 0;
	if (j->exec_errno) {
		/* The child never ran the command; reap it before forgetting it. */
		if (!j->exited)
			return 0;
		respond(j, 2, j->exec_errno);
	} else if (j->detached) {
		if (j->out_fd >= 0)
			return 0;
		respond(j, 3, j->pid);
	} else {
		if (!j->exited || j->out_fd >= 0 || j->err_fd >= 0)
			return 0;
		if (WIFSIGNALED(j->status))
			respond(j, 1, WTERMSIG(j->status));
		else
			respond(j, 0, WEXITSTATUS(j->status));
	}
	close_fd(&j->in_fd);
	j->done = 1;
	return 1;
}

static int devnull(void)
{
	return open("/dev/null", O_RDWR | O_CLOEXEC);
}

/* In the child: fd `from` becomes `to` (from may be any fd, even another target). */
static void child_fds(int *from, int n)
{
	int high[4];
	for (int k = 0; k < n; k++)
		high[k] = fcntl(from[k], F_DUPFD_CLOEXEC, 16);
	for (int k = 0; k < n; k++)
		if (high[k] < 0 || dup2(high[k], k) < 0)
			_exit(126);
}

/* umount-detach PATH…: umount -l each (not mounted: nothing to do). */
static int umount_detach(char **paths)
{
	int rc = 0;
	for (; *paths; paths++) {
		if (umount2(*paths, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
			dprintf(2, "umount %s: %s\n", *paths, strerror(errno));
			rc = 1;
		}
	}
	return rc;
}

/*
 * link-del NETNS NAME…: deletes the links by name inside the namespace bound
 * at NETNS, or in this process's own with NETNS "-" (one already gone is fine).
 */
static int link_del(char **args)
{
	int ns = strcmp(args[0], "-") ? open(args[0], O_RDONLY | O_CLOEXEC) : -2;
	if (ns == -1 || (ns >= 0 && setns(ns, CLONE_NEWNET) < 0)) {
		dprintf(2, "%s: %s\n", args[0], strerror(errno));
		return 1;
	}
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0) {
		dprintf(2, "netlink: %s\n", strerror(errno));
		return 1;
	}
	int rc = 0;
	for (char **name = args + 1; *name; name++) {
		unsigned idx = if_nametoindex(*name);
		if (!idx)
			continue;
		struct {
			struct nlmsghdr nh;
			struct ifinfomsg ifi;
		} req = { .nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_DELLINK,
				  .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1 },
			  .ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)idx } };
		if (send(nl, &req, req.nh.nlmsg_len, 0) < 0) {
			dprintf(2, "delete %s: %s\n", *name, strerror(errno));
			rc = 1;
			continue;
		}
		char ack[1024];
		ssize_t n = recv(nl, ack, sizeof ack, 0);
		struct nlmsghdr *h = (struct nlmsghdr *)ack;
		if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && h->nlmsg_type == NLMSG_ERROR) {
			int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
			if (e && e != ENODEV) {
				dprintf(2, "delete %s: %s\n", *name, strerror(e));
				rc = 1;
			}
		}
	}
	return rc;
}

static int builtin(char **argv)
{
	if (!strcmp(argv[0], "umount-detach"))
		return umount_detach(argv + 1);
	if (!strcmp(argv[0], "link-del") && argv[1])
		return link_del(argv + 1);
	dprintf(2, "berth-spawn: no builtin %s\n", argv[0]);
	return 127;
}

static void start(uint32_t id, uint8_t flags, char **argv, const char *in, uint32_t in_len)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->id = id;
	j->detached = flags & F_DETACHED;
	j->out_fd = j->err_fd = j->in_fd = j->exec_fd = -1;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, inp[2] = { -1, -1 }, ex[2] = { -1, -1 };
	int null = devnull();
	int ok = null >= 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(ex, O_CLOEXEC) == 0;
	if (ok && !j->detached)
		ok = pipe2(err, O_CLOEXEC) == 0;
	if (ok && !j->detached && in_len != NO_INPUT)
		ok = pipe2(inp, O_CLOEXEC) == 0;
	pid_t pid = ok ? fork() : -1;
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (j->detached) {
			int fds[4] = { null, null, null, out[1] };
			child_fds(fds, 4);
			setsid();
		} else {
			int fds[3] = { inp[0] >= 0 ? inp[0] : null, out[1], err[1] };
			child_fds(fds, 3);
			setenv("LC_ALL", "C", 1);
		}
		if (flags & F_BUILTIN) {
			/* No exec to close them: other jobs' pipes (a stdin's write end) must not stay open in here. */
			if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
				for (int fd = 3; fd < 1024; fd++)
					close(fd);
			_exit(builtin(argv));
		}
		execvp(argv[0], argv);
		int e = errno;
		write_all(ex[1], (const char *)&e, sizeof e);
		_exit(127);
	}
	int saved = errno;
	close_fd(&null);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&inp[0]);
	close_fd(&ex[1]);
	if (pid < 0) {
		close_fd(&out[0]);
		close_fd(&err[0]);
		close_fd(&inp[1]);
		close_fd(&ex[0]);
		respond(j, 2, saved ? saved : EAGAIN);
		free(j);
		return;
	}
	j->pid = pid;
	j->out_fd = out[0];
	j->err_fd = err[0];
	j->exec_fd = ex[0];
	j->in_fd = inp[1];
	fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
	if (j->err_fd >= 0)
		fcntl(j->err_fd, F_SETFL, O_NONBLOCK);
	fcntl(j->exec_fd, F_SETFL, O_NONBLOCK);
	if (j->in_fd >= 0) {
		fcntl(j->in_fd, F_SETFL, O_NONBLOCK);
		j->in = malloc(in_len ? in_len : 1);
		if (!j->in)
			abort();
		memcpy(j->in, in, in_len);
		j->in_len = in_len;
		if (!in_len)
			close_fd(&j->in_fd);
	}
	jobs = xrealloc(jobs, (njobs + 1) * sizeof *jobs);
	jobs[njobs++] = j;
}

static uint32_t get_u32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Starts every complete request in the buffer; malformed ones end the process (the daemon is broken). */
static void requests(void)
{
	size_t off = 0;
	while (req.len - off >= 4) {
		uint32_t len = get_u32(req.p + off);
		if (req.len - off - 4 < len)
			break;
		const char *p = req.p + off + 4, *end = p + len;
		if (len < 13)
			_exit(2);
		uint32_t id = get_u32(p);
		uint8_t flags = (uint8_t)p[4];
		uint32_t argc = get_u32(p + 5);
		p += 9;
		if (argc == 0 || argc > 65536)
			_exit(2);
		char **argv = calloc(argc + 1, sizeof *argv);
		if (!argv)
			abort();
		for (uint32_t k = 0; k < argc; k++) {
			const char *z = memchr(p, 0, (size_t)(end - p));
			if (!z)
				_exit(2);
			argv[k] = (char *)p;
			p = z + 1;
		}
		if (end - p < 4)
			_exit(2);
		uint32_t in_len = get_u32(p);
		p += 4;
		if (in_len != NO_INPUT && (size_t)(end - p) < in_len)
			_exit(2);
		start(id, flags, argv, p, in_len);
		free(argv);
		off += 4 + len;
	}
	memmove(req.p, req.p + off, req.len - off);
	req.len -= off;
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < njobs; i++) {
			if (jobs[i]->pid == pid && !jobs[i]->exited) {
				jobs[i]->exited = 1;
				jobs[i]->status = status;
				settle(jobs[i]);
				break;
			}
		}
	}
}

/* Reads what is there from a job's pipe; closes it at EOF or error. */
static void drain(int *fd, struct bytes *into)
{
	char b[65536];
	for (;;) {
		ssize_t n = read(*fd, b, sizeof b);
		if (n > 0) {
			if (into)
				put(into, b, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		close_fd(fd);
		return;
	}
}

int main(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 0;
	/* Nothing of the daemon's beyond stdio (a socket systemd passed it) reaches the commands. */
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	signal(SIGPIPE, SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return 1;
	fcntl(0, F_SETFD, FD_CLOEXEC);
	fcntl(1, F_SETFD, FD_CLOEXEC);
	struct pollfd *pfd = NULL;
	struct { struct job *job; int which; } *who = NULL;
	for (;;) {
		size_t cap = 2 + njobs * 4;
		pfd = xrealloc(pfd, cap * sizeof *pfd);
		who = xrealloc(who, cap * sizeof *who);
		size_t n = 0;
		pfd[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (size_t i = 0; i < njobs; i++) {
			struct job *j = jobs[i];
			int *fds[4] = { &j->out_fd, &j->err_fd, &j->exec_fd, &j->in_fd };
			for (int k = 0; k < 4; k++) {
				if (*fds[k] < 0)
					continue;
				who[n].job = j;
				who[n].which = k;
				pfd[n++] = (struct pollfd){ .fd = *fds[k], .events = k == 3 ? POLLOUT : POLLIN };
			}
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0)
				;
		}
		/* Pipes first, then exits: a job is answered on whichever comes last. */
		for (size_t m = 2; m < n; m++) {
			struct job *j = who[m].job;
			if (!pfd[m].revents || j->done)
				continue;
			switch (who[m].which) {
			case 0: drain(&j->out_fd, &j->out); break;
			case 1: drain(&j->err_fd, &j->err); break;
			case 2: {
				int e;
				ssize_t r = read(j->exec_fd, &e, sizeof e);
				if (r == sizeof e)
					j->exec_errno = e;
				if (r >= 0 || (errno != EINTR && errno != EAGAIN))
					close_fd(&j->exec_fd);
				break;
			}
			case 3: {
				if (j->in_fd < 0)
					break;
				ssize_t w = write(j->in_fd, j->in + j->in_off, j->in_len - j->in_off);
				if (w > 0)
					j->in_off += (size_t)w;
				if ((w < 0 && errno != EAGAIN && errno != EINTR) || j->in_off == j->in_len)
					close_fd(&j->in_fd);
				break;
			}
			}
			settle(j);
		}
		reap();
		if (pfd[0].revents) {
			char b[65536];
			ssize_t r = read(0, b, sizeof b);
			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				return 0;
			if (r > 0) {
				put(&req, b, (size_t)r);
				requests();
			}
		}
		sweep();
	}
}
