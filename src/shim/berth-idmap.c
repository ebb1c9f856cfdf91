/*
 * berth-idmap: the user namespaces of userns-remap (ADR 0005).
 *
 *   berth-idmap SOURCE TARGET UIDMAP GIDMAP
 *     mounts an idmapped view of SOURCE at TARGET;
 *   berth-idmap --netns USERNS NETNS UIDMAP GIDMAP
 *     makes a user namespace with the maps and a network namespace owned by
 *     it, bound on the files USERNS and NETNS (which must exist);
 *   berth-idmap --netns-in USERNS NETNS
 *     makes a network namespace owned by the existing user namespace USERNS
 *     (another container's), bound on NETNS.
 *
 * UIDMAP and GIDMAP are lines of a user namespace's uid_map/gid_map with
 * commas for newlines ("0 100000 65536,4294967294 0 1"). The mapping is
 * given to a child's new user namespace; for a view, a clone of SOURCE's
 * mount is idmapped with it (mount_setattr MOUNT_ATTR_IDMAP) and attached at
 * TARGET, and the kernel keeps the namespace alive through the mount. A
 * container's network namespace must be owned by its user namespace, or
 * runc cannot join it for an exec, nor mount sysfs in it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* "a b c,d e f" → "a b c\nd e f\n" */
static char *map_lines(const char *arg)
{
	size_t len = strlen(arg);
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++)
		out[i] = arg[i] == ',' ? '\n' : arg[i];
	out[len] = '\n';
	out[len + 1] = 0;
	return out;
}

static int fail(const char *what)
{
	fprintf(stderr, "berth-idmap: %s: %s\n", what, strerror(errno));
	return 1;
}

/*
 * A child that takes namespace steps when asked and holds the namespaces it
 * is in until released: their /proc/PID/ns files can be bound or opened
 * meanwhile, and its maps written from outside.
 */
typedef int (*ns_step)(const char *arg);

struct held_child {
	pid_t pid;
	int ask, answer;
};

static int held_fork(struct held_child *h, const ns_step *steps, const char *arg)
{
	int ask[2], answer[2];
	if (pipe2(ask, O_CLOEXEC) < 0 || pipe2(answer, O_CLOEXEC) < 0)
		return -1;
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (h->pid == 0) {
		close(ask[1]);
		close(answer[0]);
		char c;
		/* One step per request, answered 1 (done) or 0; end of the pipe releases it. */
		for (const ns_step *s = steps; read(ask[0], &c, 1) == 1; s += *s != NULL) {
			c = *s && (*s)(arg) == 0 ? 1 : 0;
			if (write(answer[1], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(ask[0]);
	close(answer[1]);
	h->ask = ask[1];
	h->answer = answer[0];
	return 0;
}

/* The child's next step: 0 when it was taken, -1 (errno EPERM) when not. */
static int held_step(struct held_child *h)
{
	char c = 1;
	if (write(h->ask, &c, 1) != 1 || read(h->answer, &c, 1) != 1 || !c) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static void held_release(struct held_child *h)
{
	close(h->ask);
	close(h->answer);
	waitpid(h->pid, NULL, 0);
}

static int held_bind(struct held_child *h, const char *ns, const char *target)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/%s", h->pid, ns);
	return mount(path, target, NULL, MS_BIND, NULL);
}

static int unshare_user(const char *unused)
{
	(void)unused;
	return unshare(CLONE_NEWUSER);
}

/* Mapped by now, root of its own user namespace: it can make a network namespace there. */
static int unshare_net(const char *unused)
{
	(void)unused;
	return unshare(CLONE_NEWNET);
}

static int join_user(const char *userns)
{
	int fd = open(userns, O_RDONLY | O_CLOEXEC);
	return fd >= 0 && setns(fd, CLONE_NEWUSER) == 0 ? 0 : -1;
}

/* A network namespace made inside the user namespace at `userns`, bound on `netns`. */
static int netns_in(const char *userns, const char *netns)
{
	static const ns_step steps[] = { join_user, unshare_net, NULL };
	struct held_child h;
	if (held_fork(&h, steps, userns) < 0)
		return fail("fork");
	int rc = 1;
	if (held_step(&h) < 0 || held_step(&h) < 0)
		fail("join user namespace and unshare network namespace");
	else if (held_bind(&h, "net", netns) < 0)
		fail("bind network namespace");
	else
		rc = 0;
	held_release(&h);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--netns-in") == 0)
		return netns_in(argv[2], argv[3]);
	int netns_mode = argc == 6 && strcmp(argv[1], "--netns") == 0;
	if (netns_mode) {
		argv++;
		argc--;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: berth-idmap [--netns USERNS NETNS | SOURCE TARGET] UIDMAP GIDMAP\n");
		return 2;
	}
	char *uidmap = map_lines(argv[3]), *gidmap = map_lines(argv[4]);
	if (!uidmap || !gidmap)
		return fail("malloc");

	static const ns_step steps[] = { unshare_user, unshare_net, NULL };
	struct held_child h;
	if (held_fork(&h, steps, NULL) < 0)
		return fail("fork");
	char path[64];
	int rc = 1, ns = -1;
	if (held_step(&h) < 0) {
		fail("unshare user namespace");
		goto out;
	}
	snprintf(path, sizeof path, "/proc/%d/uid_map", h.pid);
	if (write_file(path, uidmap) < 0) {
		fail("write uid_map");
		goto out;
	}
	snprintf(path, sizeof path, "/proc/%d/gid_map", h.pid);
	if (write_file(path, gidmap) < 0) {
		fail("write gid_map");
		goto out;
	}
	if (netns_mode) {
		if (held_step(&h) < 0) {
			fail("unshare network namespace");
			goto out;
		}
		if (held_bind(&h, "user", argv[1]) < 0) {
			fail("bind user namespace");
			goto out;
		}
		if (held_bind(&h, "net", argv[2]) < 0) {
			fail("bind network namespace");
			umount2(argv[1], MNT_DETACH);
			goto out;
		}
		rc = 0;
		goto out;
	}
	snprintf(path, sizeof path, "/proc/%d/ns/user", h.pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0) {
		fail("open user namespace");
		goto out;
	}
	int tree = syscall(SYS_open_tree, AT_FDCWD, argv[1], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0) {
		fail("open_tree");
		goto out;
	}
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned long long)ns };
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
		fail("mount_setattr");
		goto out;
	}
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, argv[2], MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		fail("move_mount");
		goto out;
	}
	rc = 0;
out:
	if (ns >= 0)
		close(ns);
	held_release(&h);
	return rc;
}
