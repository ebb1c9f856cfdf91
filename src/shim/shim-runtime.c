/* berth-shim: invoking the OCI runtime (runc, crun): create, start, exec, delete, with a timeout. */
#include "shim.h"

/*
 * Starts `runtime --root R --log LOG --log-format json <sub...>` with the
 * given stdio; the fds in `keep` (ended by -1) stay open in it.
 */
pid_t runtime_spawn_with(const char *log, const int *keep, const char *const *sub, int in, int out, int err)
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
int runtime_logged_error;

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
int runtime_run(const char *const *sub, int in, int out, int err_fd, int console_listen, char *err, size_t n)
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
int runtime_simple(const char *cmd, const char *flag)
{
	const char *sub[] = { cmd, flag ? flag : opt.id, flag ? opt.id : NULL, NULL };
	char err[ERR_MAX];
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int r = runtime_run(sub, null, null, null, -1, err, sizeof err);
	close_fd(&null);
	return r;
}

pid_t read_runtime_pid(void)
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
int console_listen_open(char *err, size_t n)
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

void console_listen_close(int *fd)
{
	if (*fd >= 0)
		unlink("console.sock");
	close_fd(fd);
}
