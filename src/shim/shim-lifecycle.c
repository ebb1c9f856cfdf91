/* berth-shim: the container lifecycle: create, start, exec start, exit, and the frames that drive it. */
#include "shim.h"

int rootfs_mount(char *err, size_t n)
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
	/*
	 * The overlay's last reference going syncs its upper filesystem (the
	 * host's, with whatever else is dirty on it): 5-40 ms here, in the task
	 * that drops it, before exit.json and the exit frame. With
	 * --rootfs-sync-later a child holding the mount through an fd drops it
	 * instead, after we go on; the mount is gone from the tree at once
	 * (detached), so nothing waits for it. Only for a rootfs never mounted
	 * again (an --rm container's, removed next): a restart's mount of the
	 * same upper dir meanwhile would find it in use (EBUSY with index=on).
	 */
	int hold = opt.rootfs_sync_later ? open(path.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	/* Detached: a process that still has it open (a leftover exec) must not keep it busy. */
	if (umount2(path.rootfs, MNT_DETACH) < 0)
		say("umount %s: %s", path.rootfs, strerror(errno));
	proc.rootfs_mounted = 0;
	int gate[2];
	if (hold < 0 || pipe2(gate, O_CLOEXEC) < 0) {
		close_fd(&hold);
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		/* Nothing of the shim's but these two: its clients must see it gone when it goes. */
		int lo = hold < gate[0] ? hold : gate[0], hi = hold < gate[0] ? gate[0] : hold;
		if (lo > 3)
			close_range(3, (unsigned)lo - 1, 0);
		if (hi > lo + 1)
			close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
		close_range((unsigned)hi + 1, ~0U, 0);
		/* The last reference must be ours: wait for the shim to close its copy (EOF on the gate). */
		char c;
		while (read(gate[0], &c, 1) < 0 && errno == EINTR)
			;
		close(hold);
		_exit(0);
	}
	/* Without a child (fork failed), the sync is ours after all. */
	close(hold);
	close(gate[0]);
	close(gate[1]);
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
int container_create(char *err, size_t n)
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

void record_exit(int code)
{
	proc.exited = 1;
	proc.exit_code = code;
	proc.finished_at = wall_now();
	proc.drain_deadline = mono_ms() + DRAIN_MS;
	say("process %d exited: %d", (int)proc.pid, code);
}

/* Reaps every dead child; only the monitored process's status matters. */
void reap_children(void)
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
void remove_state_dir(void)
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
 * Whether the client closed its end cleanly after the exit frame: the daemon
 * closes once it has read it. A frame in the socket's buffer is not yet read:
 * had the shim gone at once, a daemon whose write (a stdin close racing the
 * exit) then failed on the closed socket dropped it unread, and with the
 * directory gone the exec's code was lost. Anything the client still sends
 * is read and ignored; a reset or no close by the deadline is no.
 */
static int closed_after_reading(struct client *c, long long deadline)
{
	char scratch[4096];
	for (;;) {
		long long left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		ssize_t got = read(c->fd, scratch, sizeof scratch);
		if (got == 0)
			return 1;
		if (got < 0 && errno != EINTR && errno != EAGAIN)
			return 0;
	}
}

/*
 * The end: delete and unmount, record the exit for a daemon that may come
 * later, tell every client, go. exit.json is written before shim.sock is
 * removed, so a client that misses the exit frame always finds the file.
 */
void finish(void)
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
	long long close_deadline = mono_ms() + FINAL_FLUSH_MS;
	for (size_t i = 0; i < nclients; i++) {
		int sent = !clients[i]->dead && !buf_used(&clients[i]->out);
		/* An exec's directory goes only once a client has shown it read the exit frame (exit.json is the fallback). */
		delivered |= sent && (!opt.remove_state_dir || closed_after_reading(clients[i], close_deadline));
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


void handle_frame(struct client *c, int type, const char *p, uint32_t n)
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
