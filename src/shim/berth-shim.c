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
 *
 * This file holds the state, the event loop and start-up; each concept has a
 * unit of its own, sharing shim.h: shim-util.c (byte queues, fds, clocks),
 * shim-json.c, shim-log.c (the json-file log), shim-clients.c (shim.sock),
 * shim-runtime.c (runc/crun invocations), shim-stdio.c (pipes, pty),
 * shim-lifecycle.c (create, start, exit, frames) and shim-probe.c
 * (healthcheck probes).
 */
#include "shim.h"

struct shim_options opt = { .log_max_files = 1 };
struct shim_paths path;
struct shim_io io = { .out = -1, .err = -1, .in = -1, .child_in = -1, .child_out = -1, .child_err = -1, .line_empty = 1 };
struct shim_proc proc;
int sync_fd = -1;
int listen_fd = -1;
int signal_fd = -1;
FILE *diag;

/* ------------------------------------------------------------------------ */
/* Event loop                                                               */
/* ------------------------------------------------------------------------ */

struct pollfd *pfds;
static size_t pfds_cap;

size_t pfd_add(size_t *n, int fd, short events)
{
	if (*n == pfds_cap) {
		pfds_cap = pfds_cap ? pfds_cap * 2 : 16;
		pfds = xrealloc(pfds, pfds_cap * sizeof *pfds);
	}
	pfds[*n] = (struct pollfd){ .fd = fd, .events = events };
	return (*n)++;
}

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

void event_loop(void)
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
	"(--bundle DIR [--rootfs-mount OPTIONS [--rootfs-sync-later]] | --exec-process FILE [--remove-state-dir]) [--tty] [--stdin] "
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
		} else if (!strcmp(a, "--rootfs-sync-later")) {
			opt.rootfs_sync_later = 1;
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
