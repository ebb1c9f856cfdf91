/*
 * dist/berth: the launcher of berth's CLI and daemon (ADR 0010).
 *
 * `berth daemon` and `berth registry` exec Node on the ESM bundle. Any other
 * command is a CLI command: it is handed to a warm CLI process, one already
 * started from the CLI's snapshot, waiting on a per-user unix socket. The
 * launcher passes its argv, environment, umask, working directory and
 * stdin/stdout/stderr (SCM_RIGHTS), forwards signals to the warm process and
 * exits with its status. Without a warm process (first command, pool idled
 * out, another build, any failure before the warm process acknowledges) the
 * launcher execs the cold path: Node from the snapshot, as before. Then it
 * starts a pool in the background for the commands that follow.
 *
 * Built by scripts/build.mjs with the paths and the build's key compiled in:
 * BERTH_NODE, BERTH_BLOB, BERTH_MJS, BERTH_BUILD.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAGIC 0x48545242u /* "BRTH" */
#define VERSION 2u
#define POOL_DEFAULT 2

/* scripts/build.mjs writes the same start as dist/berth-cold.sh, for the hosts `berth machine` makes: keep the two in step. */
static void cold(int argc, char **argv) {
  char **args = calloc((size_t)argc + 8, sizeof(char *));
  if (!args) _exit(127);
  int n = 0;
  args[n++] = BERTH_NODE;
  if (argc > 1 && (!strcmp(argv[1], "daemon") || !strcmp(argv[1], "registry"))) {
    /* The daemon's idle collection needs gc and malloc_trim (node:ffi, whose
     * warning would be noise in its log); fewer malloc arenas, trimmed sooner. */
    setenv("MALLOC_ARENA_MAX", "2", 1);
    setenv("MALLOC_TRIM_THRESHOLD_", "131072", 1);
    args[n++] = "--enable-source-maps";
    args[n++] = "--expose-gc";
    args[n++] = "--disable-warning=ExperimentalWarning";
    args[n++] = BERTH_MJS;
  } else {
    args[n++] = "--snapshot-blob";
    args[n++] = BERTH_BLOB;
    args[n++] = "--";
  }
  for (int i = 1; i < argc; i++) args[n++] = argv[i];
  args[n] = NULL;
  execv(BERTH_NODE, args);
  fprintf(stderr, "berth: cannot run %s: %s\n", BERTH_NODE, strerror(errno));
  _exit(127);
}

/* Node reads these at its start only: a warm process must have started with the same. */
static int startup_env(const char *entry) {
  return !strncmp(entry, "NODE_", 5) || !strncmp(entry, "UV_", 3) || !strncmp(entry, "OPENSSL_", 8) ||
         !strncmp(entry, "BERTH_CLI_RESIDENT=", 19);
}

static uint64_t fnv(uint64_t h, const void *data, size_t len) {
  for (const unsigned char *c = data; len--; c++) h = (h ^ *c) * 1099511628211ull;
  return h;
}

/*
 * The key of what a warm process must share with its caller beyond the build:
 * the start-up environment (in any order), the namespaces (`ip netns exec`,
 * unshare), the root directory and the ids. Each key has a pool of its own.
 */
static uint64_t pool_key(void) {
  uint64_t env = 0;
  for (char **e = environ; *e; e++)
    if (startup_env(*e)) env += fnv(1469598103934665603ull, *e, strlen(*e));
  uint64_t key = fnv(1469598103934665603ull, &env, sizeof env);
  static const char *const ns[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
    uint64_t id[2] = { 0, 0 };
    if (stat(path, &st) == 0) { id[0] = st.st_dev; id[1] = st.st_ino; }
    key = fnv(key, id, sizeof id);
  }
  struct stat root;
  uint64_t rid[2] = { 0, 0 };
  if (stat("/", &root) == 0) { rid[0] = root.st_dev; rid[1] = root.st_ino; }
  key = fnv(key, rid, sizeof rid);
  uint32_t ids[4] = { getuid(), geteuid(), getgid(), getegid() };
  return fnv(key, ids, sizeof ids);
}

static uint64_t key_memo;
static int key_done;
static uint64_t the_key(void) {
  if (!key_done) { key_memo = pool_key(); key_done = 1; }
  return key_memo;
}

/* The per-user directory of warm sockets: created 0700, used only if it is ours and private. */
static int connect_warm(const char *dir);
static uint64_t the_key(void);
static void sweep(const char *dir);

static int socket_dir(char *dir, size_t size) {
  uid_t uid = getuid();
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  char candidates[3][256];
  int count = 0;
  if (xdg && xdg[0] == '/' && strlen(xdg) < 200) snprintf(candidates[count++], 256, "%s/berth-cli", xdg);
  snprintf(candidates[count++], 256, "/run/berth-cli-%u", (unsigned)uid);
  snprintf(candidates[count++], 256, "/tmp/berth-cli-%u", (unsigned)uid);
  for (int i = 0; i < count; i++) {
    struct stat st;
    if (mkdir(candidates[i], 0700) < 0 && errno != EEXIST) continue;
    if (lstat(candidates[i], &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077)) continue;
    if (strlen(candidates[i]) >= size) continue;
    memcpy(dir, candidates[i], strlen(candidates[i]) + 1);
    return 0;
  }
  return -1;
}

static int sock_addr(struct sockaddr_un *addr, const char *dir) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  int n = snprintf(addr->sun_path, sizeof addr->sun_path, "%s/%s-%016llx.sock", dir, BERTH_BUILD, (unsigned long long)the_key());
  return n > 0 && (size_t)n < sizeof addr->sun_path ? 0 : -1;
}

/*
 * Starts the pool off the caller's path: a grandchild in its own session
 * binds the socket and starts POOL warm processes sharing it (fd 3), each
 * reparented to init. The lock only orders rival starters: a pool that still
 * answers on the socket is left alone, a dead one's socket replaced.
 */
static void start_pool(const char *dir) {
  pid_t child = fork();
  if (child < 0) return;
  if (child > 0) { while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {} return; }
  if (fork() != 0) _exit(0);
  setsid();
  if (chdir("/") < 0) _exit(0);
  char lock_path[300];
  snprintf(lock_path, sizeof lock_path, "%s/%s-%016llx.lock", dir, BERTH_BUILD, (unsigned long long)the_key());
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock < 0 || flock(lock, LOCK_EX) < 0) _exit(0);
  futimens(lock, NULL);
  sweep(dir);
  int live = connect_warm(dir);
  if (live >= 0) _exit(0); /* a rival started it meanwhile */
  struct sockaddr_un addr;
  if (sock_addr(&addr, dir) < 0) _exit(0);
  unlink(addr.sun_path); /* a socket left by a pool that idled out */
  /* Non-blocking: several warm processes poll it, and the ones that lose the race
   * for a connection must get EAGAIN from accept, not block there past their idle end. */
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  mode_t old = umask(077);
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 128) < 0) _exit(0);
  umask(old);
  close(lock);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  s = fcntl(s, F_DUPFD_CLOEXEC, 10); /* above 3, so that the dup2 below cannot close it */
  if (null < 0 || s < 0) _exit(0);
  if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(0);
  if (dup2(s, 3) < 0) _exit(0); /* dup2 leaves 3 without CLOEXEC: the warm processes inherit it */
  syscall(SYS_close_range, 4u, ~0u, 0u);
  const char *idle = getenv("BERTH_CLI_WARM_IDLE");
  const char *size = getenv("BERTH_CLI_WARM_POOL");
  const char *max = getenv("BERTH_CLI_WARM_MAX");
  int pool = size ? atoi(size) : POOL_DEFAULT;
  if (pool < 1) pool = 1;
  if (pool > 16) pool = 16;
  char idle_env[64], pool_env[64], max_env[64];
  snprintf(idle_env, sizeof idle_env, "BERTH_CLI_WARM_IDLE=%s", idle && atoi(idle) > 0 ? idle : "300");
  snprintf(pool_env, sizeof pool_env, "BERTH_CLI_WARM_POOL=%d", pool);
  /* the most processes the pool grows to in a burst (src/cli/warm.ts) */
  snprintf(max_env, sizeof max_env, "BERTH_CLI_WARM_MAX=%d", max && atoi(max) > 0 ? atoi(max) : 8);
  char *env[64] = { "BERTH_CLI_WARM_FDS=3", idle_env, pool_env, max_env };
  int envc = 4;
  for (char **e = environ; *e && envc < 63; e++)
    if (startup_env(*e)) env[envc++] = *e;
  env[envc] = NULL;
  /* --expose-internals: a warm process renews Node's stdio streams between commands (src/cli/resident.ts) */
  char *args[] = { BERTH_NODE, "--snapshot-blob", BERTH_BLOB, "--disable-warning=ExperimentalWarning", "--expose-internals", "--", NULL };
  for (int i = 0; i < pool; i++) {
    pid_t member = fork();
    if (member == 0) {
      if (fork() == 0) execve(BERTH_NODE, args, env);
      _exit(0);
    }
    if (member > 0) while (waitpid(member, NULL, 0) < 0 && errno == EINTR) {}
  }
  _exit(0);
}

/*
 * A pool is started for a key's second cold command, not its first: `ip netns
 * exec` makes a new mount namespace, so a new key, for every command, and a
 * pool for each would never serve one. The first leaves the key's lock file.
 */
static int seen_before(const char *dir) {
  char lock_path[300];
  snprintf(lock_path, sizeof lock_path, "%s/%s-%016llx.lock", dir, BERTH_BUILD, (unsigned long long)the_key());
  if (access(lock_path, F_OK) == 0) return 1;
  int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) close(fd);
  return 0;
}

/* Lock and socket files of keys unused for a day (one-shot namespaces, old builds) go. */
static void sweep(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  time_t now = time(NULL);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".lock")) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || now - st.st_mtime < 86400) continue;
    char sock[256];
    snprintf(sock, sizeof sock, "%.*s.sock", (int)(n - 5), e->d_name);
    struct stat ss;
    /* a live pool's socket is re-made at each start; its lock is touched then too */
    if (fstatat(dirfd(d), sock, &ss, AT_SYMLINK_NOFOLLOW) == 0 && now - ss.st_mtime < 86400) continue;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int live = -1;
    if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/%s", dir, sock) < sizeof addr.sun_path) {
      live = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (live >= 0 && connect(live, (struct sockaddr *)&addr, sizeof addr) == 0) { close(live); continue; } /* in use */
      if (live >= 0) close(live);
    }
    unlinkat(dirfd(d), sock, 0);
    for (int i = 0; i < 32; i++) { /* the pool's slots (src/cli/warm.ts) */
      char slot[256];
      snprintf(slot, sizeof slot, "%.*s.slot%d", (int)(n - 5), e->d_name, i);
      unlinkat(dirfd(d), slot, 0);
    }
    unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

static int connect_warm(const char *dir) {
  struct sockaddr_un addr;
  if (sock_addr(&addr, dir) < 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != getuid()) { close(fd); errno = EPERM; return -1; }
  return fd;
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* 0: read all; -1: end of stream or an error first. */
static int read_all(int fd, char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = read(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Sends the command; 0 when it was sent whole. Nothing has run yet either way. */
static int send_request(int fd, int argc, char **argv) {
  int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0) return -1;
  size_t length = 0;
  uint32_t envc = 0;
  for (int i = 1; i < argc; i++) length += strlen(argv[i]) + 1;
  for (char **e = environ; *e; e++, envc++) length += strlen(*e) + 1;
  char *payload = malloc(length ? length : 1);
  if (!payload) { close(cwd); return -1; }
  char *p = payload;
  for (int i = 1; i < argc; i++) p = stpcpy(p, argv[i]) + 1;
  for (char **e = environ; *e; e++) p = stpcpy(p, *e) + 1;
  mode_t mask = umask(0);
  umask(mask);
  uint32_t header[6] = { MAGIC, VERSION, (uint32_t)(argc - 1), envc, (uint32_t)mask, (uint32_t)length };
  int fds[4] = { 0, 1, 2, cwd };
  union { char buf[CMSG_SPACE(sizeof fds)]; struct cmsghdr align; } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = { header, sizeof header };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  close(cwd);
  int rc = n == (ssize_t)sizeof header && write_all(fd, payload, length) == 0 ? 0 : -1;
  free(payload);
  return rc;
}

static volatile pid_t warm_pid;
static volatile sig_atomic_t last_signal;

static void forward(int sig) {
  int saved = errno;
  if (sig == SIGTSTP) {
    /* Stop the command with the launcher, as a cold process would stop; SIGCONT resumes both. */
    kill(warm_pid, SIGSTOP);
    kill(getpid(), SIGSTOP);
  } else {
    if (sig != SIGWINCH && sig != SIGCONT) last_signal = sig;
    kill(warm_pid, sig);
  }
  errno = saved;
}

/* What Node restores at its exit (ResetStdio): the terminal's mode and the stdio's file status flags. */
struct stdio_state { int flags[3]; int has_tty[3]; struct termios tty[3]; };

static void save_stdio(struct stdio_state *s) {
  for (int i = 0; i < 3; i++) {
    s->flags[i] = fcntl(i, F_GETFL);
    s->has_tty[i] = tcgetattr(i, &s->tty[i]) == 0;
  }
}

static void restore_stdio(const struct stdio_state *s) {
  for (int i = 0; i < 3; i++) {
    if (s->flags[i] >= 0) fcntl(i, F_SETFL, s->flags[i]);
    if (s->has_tty[i]) {
      /* as Node: a background process group would be stopped by SIGTTOU here */
      sigset_t block, old;
      sigemptyset(&block);
      sigaddset(&block, SIGTTOU);
      sigprocmask(SIG_BLOCK, &block, &old);
      while (tcsetattr(i, TCSANOW, &s->tty[i]) < 0 && errno == EINTR) {}
      sigprocmask(SIG_SETMASK, &old, NULL);
    }
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "daemon") || !strcmp(argv[1], "registry"))) cold(argc, argv);
  const char *opt = getenv("BERTH_CLI_WARM");
  if (opt && !strcmp(opt, "0")) cold(argc, argv);
  /* A background job must not read the terminal: only a cold process is stopped for it (SIGTTIN). */
  if (isatty(0) && tcgetpgrp(0) != getpgrp()) cold(argc, argv);
  char dir[256];
  if (socket_dir(dir, sizeof dir) < 0) cold(argc, argv);
  int fd = connect_warm(dir);
  if (fd < 0) {
    if ((errno == ENOENT || errno == ECONNREFUSED) && seen_before(dir)) start_pool(dir);
    cold(argc, argv);
  }
  struct stdio_state stdio;
  save_stdio(&stdio);
  char ack[8];
  if (send_request(fd, argc, argv) < 0 || read_all(fd, ack, sizeof ack) < 0 || memcmp(ack, "ACK1", 4)) {
    close(fd);
    cold(argc, argv);
  }
  int32_t pid;
  memcpy(&pid, ack + 4, sizeof pid);
  warm_pid = pid;
  static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP, SIGALRM };
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
  char status[8];
  int got = read_all(fd, status, sizeof status) == 0 && !memcmp(status, "EXIT", 4);
  if (got) {
    /* The warm process may serve another command once we confirm: from here
     * on no signal is forwarded, and any forwarded before has reached it. */
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, NULL);
    /* A process that ends after its status has closed its end: no SIGPIPE for that. */
    while (send(fd, "DONE", 4, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
  }
  restore_stdio(&stdio);
  if (got) {
    int32_t code;
    memcpy(&code, status + 4, sizeof code);
    return code & 0xff;
  }
  /* The warm process died without a status: by the signal we forwarded, most likely. */
  int sig = last_signal ? last_signal : SIGKILL;
  signal(sig, SIG_DFL);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, sig);
  sigprocmask(SIG_UNBLOCK, &unblock, NULL);
  kill(getpid(), sig);
  return 128 + sig;
}
