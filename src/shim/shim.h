/* The shim's shared types, state and functions; each .c file holds one concept (berth-shim.c says what the shim is). */
#ifndef BERTH_SHIM_H
#define BERTH_SHIM_H
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

struct shim_options {
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
	int rootfs_sync_later;          /* the rootfs is never mounted again (an --rm container's): its unmount's sync need not be waited for */
};
extern struct shim_options opt;

/* Absolute paths inside the state dir that are handed to the runtime. */
struct shim_paths {
	char runtime_log[PATH_MAX];
	char runtime_pid[PATH_MAX];
	char console[64];               /* /proc/<shim pid>/cwd/console.sock */
	char rootfs[PATH_MAX];
};
extern struct shim_paths path;

/* The process's stdio as the shim sees it. */
struct shim_io {
	int out, err;                   /* read ends; with --tty, out is the pty master */
	int in;                         /* write end of stdin; with --tty a dup of the master */
	int child_in, child_out, child_err; /* ends for the runtime, closed once handed on */
	struct buf *pending;            /* stdin the process has not accepted yet */
	int close_requested;            /* F_CLOSE_STDIN seen; close once pending is written */
	int stdin_done;                 /* stdin closed, or the process stopped reading it */
	int line_empty;                 /* with --tty: no byte written since the last newline */
	unsigned short rows, cols;      /* last requested tty size, for a pty that comes later */
};
extern struct shim_io io;

struct shim_proc {
	pid_t pid;                      /* the container init, or the exec'd process */
	int started, exited, exit_code;
	struct timespec finished_at;
	long long drain_deadline;
	int rootfs_mounted;
};
extern struct shim_proc proc;

extern int sync_fd;                     /* fd 3: the start-up result for the daemon */
extern int listen_fd;
extern int signal_fd;
extern FILE *diag;                      /* shim.log */


/* A connection on shim.sock. */
struct client {
	int fd;
	int dead;                       /* dropped; freed by clients_sweep() */
	int read_closed;                /* the peer shut down its sending side */
	struct buf in, out;
};

#define PROBES_MAX 8

/* shim-util.c */
void *xrealloc(void *p, size_t n);
size_t buf_used(const struct buf *b);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_str(struct buf *b, const char *s);
void buf_reset(struct buf *b);
void buf_consume(struct buf *b, size_t n);
struct buf *buf_new(void);
void buf_free(struct buf *b);
void close_fd(int *fd);
int write_all(int fd, const void *p, size_t n);
struct timespec wall_now(void);
long long mono_ms(void);
void format_time(struct timespec ts, char out[TIME_LEN]);
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *absolute(const char *p);
int write_file_atomic(const char *name, const char *content);

/* shim-json.c */
void json_append_string(struct buf *out, const unsigned char *s, size_t n);
int json_field(const char *line, const char *key, char *out, size_t n);

/* shim-log.c */
int log_open(void);
void log_feed(int stream, const char *p, size_t n);
void log_flush_lines(void);

/* shim-clients.c */
extern struct client **clients;
extern size_t nclients;
void client_drop(struct client *c, const char *why);
void clients_sweep(void);
void clients_accept(void);
void client_flush(struct client *c);
void client_send(struct client *c, int type, const void *p, uint32_t n);
void client_reply(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void broadcast(int type, const void *p, uint32_t n);
void client_read(struct client *c);
void clients_flush_all(long long deadline);
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* shim-runtime.c */
extern int runtime_logged_error;
pid_t runtime_spawn_with(const char *log, const int *keep, const char *const *sub, int in, int out, int err);
int runtime_run(const char *const *sub, int in, int out, int err_fd, int console_listen, char *err, size_t n);
int runtime_simple(const char *cmd, const char *flag);
pid_t read_runtime_pid(void);
int console_listen_open(char *err, size_t n);
void console_listen_close(int *fd);

/* shim-stdio.c */
int stdio_prepare(char *err, size_t n);
void stdio_release_child_ends(void);
void tty_apply_size(void);
void tty_attach_stdin(void);
void stdin_flush(void);
void stdin_queue(const char *p, uint32_t n);
size_t stdin_backlog(void);
int output_pump(int fd, int stream);

/* shim-lifecycle.c */
int rootfs_mount(char *err, size_t n);
int container_create(char *err, size_t n);
void record_exit(int code);
void reap_children(void);
void remove_state_dir(void);
void finish(void) __attribute__((noreturn));
void handle_frame(struct client *c, int type, const char *p, uint32_t n);

/* shim-probe.c */
void probes_forget_client(struct client *c);
int probe_reaped(pid_t pid, int status);
void handle_probe(struct client *c, const char *p, uint32_t n);
size_t probes_poll_add(size_t *n, size_t slots[PROBES_MAX][2]);
void probes_handle(size_t slots[PROBES_MAX][2]);
int probes_timeout(void);

/* berth-shim.c */
extern struct pollfd *pfds;
size_t pfd_add(size_t *n, int fd, short events);
void event_loop(void);

#endif
