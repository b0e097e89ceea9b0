/*
 * cordon-helper: the tiny native part of cordon. It decides nothing; it applies
 * what the TypeScript side computed, because these steps need syscalls Node
 * cannot make.
 *
 *   cordon-helper run [--rw PATH]... [--rwnd PATH]... [--require-landlock] [--ready-fd FD] -- CMD [ARGS...]
 *     Runs inside the bubblewrap sandbox as PID 1 (bwrap --as-pid-1), after the
 *     mounts and seccomp are in place. Closes every inherited fd >= 3 (but the
 *     ready fd), applies a Landlock write wall (--rw: every write right; --rwnd:
 *     every write right but deleting/renaming away), writes one byte to the
 *     ready fd and closes it, then forks CMD into its own process group,
 *     forwards signals to it, reaps every zombie (it is init) and exits with
 *     CMD's status (128+N if CMD was killed by signal N).
 *     Landlock is applied only when a path or --require-landlock is given; a
 *     ruleset with no paths makes the whole filesystem read-only. Without
 *     --rwnd/--require-landlock a kernel without Landlock is tolerated: the
 *     caller's mounts are the primary wall. A needed wall that cannot be built
 *     is a hard error, never a silent downgrade.
 *
 *   cordon-helper scan [--match PATTERN]... [--max-depth N] -- ROOT...
 *     Runs on the host before every launch: walks ROOTs (never following
 *     symlinks, crossing mount points, not descending into .git directories)
 *     and prints NUL-terminated records on stdout:
 *       G\tPATH  a directory holding an entry named .git (work tree)
 *       S\tPATH  a submodule git dir under some .git/modules/ (HEAD + config)
 *       M\tPATH  an entry whose basename matches a --match fnmatch(3) pattern
 *       E\tN     N directories could not be read (only if N > 0)
 *     --max-depth N reads directories at most N levels below ROOT (ROOT = 0).
 *
 *   cordon-helper landlock-abi
 *     Prints the kernel's Landlock ABI version (0: none), for `cordon doctor`.
 *
 * Trust boundary: argv comes from cordon (trusted). Everything the scanner
 * reads from the filesystem (names, types, symlinks) is attacker-controlled:
 * the walked trees are writable by the confined command; names are only ever
 * copied and printed, never interpreted, and symlinks are never followed.
 *
 * Exit codes: 125 is reserved for the helper's own failures (bad usage,
 * Landlock missing or failing, fork failure); 126/127 mean CMD could not be
 * executed (127: not found); anything else is CMD's own status.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/landlock.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_HELPER 125

/* Older headers (Debian 12) lack the newer numbers and rights. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

__attribute__((noreturn)) static void usage(void)
{
	fputs("usage: cordon-helper run [--rw PATH]... [--rwnd PATH]... [--require-landlock] [--ready-fd FD] -- CMD [ARGS...]\n"
	      "       cordon-helper scan [--match PATTERN]... [--max-depth N] -- ROOT...\n"
	      "       cordon-helper landlock-abi\n",
	      stderr);
	exit(EXIT_HELPER);
}

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "cordon: %s: %s\n", what, strerror(errno));
	exit(EXIT_HELPER);
}

/* ------------------------------------------------------------------ run -- */

struct run_config {
	const char **rw, **rwnd; /* NULL-terminated, point into argv */
	size_t n_rw, n_rwnd;
	bool require_landlock;
	int ready_fd; /* -1: none */
	char **cmd;
};

/* Write rights only: reads and exec stay governed by the mounts. */
static uint64_t write_rights(int abi)
{
	uint64_t r = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
		     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
		     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
		     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
		     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER; /* else cross-dir rename/link is always denied */
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return r;
}

/* Read-write-no-delete: an entry can be created and changed, never unlinked,
 * rmdir'd, renamed away or replaced by a rename (all need REMOVE_*). */
static uint64_t no_delete_rights(int abi)
{
	return write_rights(abi) & ~(LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR);
}

/* The kernel rejects directory-only rights on a rule for a single file. */
static const uint64_t file_rights = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;

/* ruleset < 0 (Landlock tolerated absent): the path is still checked. */
static void add_rule(int ruleset, const char *path, uint64_t rights)
{
	struct landlock_path_beneath_attr attr = { 0 };
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "cordon: landlock path %s: %s\n", path, strerror(errno));
		exit(EXIT_HELPER);
	}
	attr.allowed_access = S_ISDIR(st.st_mode) ? rights : rights & file_rights;
	attr.parent_fd = fd;
	if (ruleset >= 0 && syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0) {
		fprintf(stderr, "cordon: landlock rule for %s: %s\n", path, strerror(errno));
		exit(EXIT_HELPER);
	}
	close(fd);
}

static void apply_landlock(const struct run_config *c)
{
	bool wanted = c->n_rw || c->n_rwnd || c->require_landlock;
	bool required = c->n_rwnd || c->require_landlock;
	if (!wanted)
		return;
	int abi = (int)syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0 && errno != ENOSYS && errno != EOPNOTSUPP)
		die("landlock");
	/* ABI 1 cannot express "no delete" (renames across dirs are always denied):
	 * fail closed rather than hand out a different wall than was asked for. */
	if (abi < 2 && required) {
		fprintf(stderr, "cordon: Landlock ABI %d is too old or unavailable for the requested write wall "
				"(read-write-no-delete needs ABI >= 2); needs a kernel >= 5.19 with Landlock enabled "
				"(lsm=landlock)\n", abi < 0 ? 0 : abi);
		exit(EXIT_HELPER);
	}

	/* No Landlock and only --rw: tolerated, the mounts are the primary wall. */
	int ruleset = -1;
	if (abi >= 1) {
		struct landlock_ruleset_attr attr = { 0 };
		attr.handled_access_fs = write_rights(abi);
		ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
		if (ruleset < 0)
			die("landlock_create_ruleset");
	}
	for (size_t i = 0; i < c->n_rw; i++)
		add_rule(ruleset, c->rw[i], write_rights(abi));
	for (size_t i = 0; i < c->n_rwnd; i++)
		add_rule(ruleset, c->rwnd[i], no_delete_rights(abi));
	if (ruleset < 0)
		return;
	if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		die("landlock_restrict_self");
	close(ruleset);
}

/* Closes every fd >= 3 except `keep` (the ready fd, or -1). */
static void close_inherited_fds(int keep)
{
	if (keep < 3) {
		if (syscall(__NR_close_range, 3U, ~0U, 0U) == 0)
			return;
	} else if ((keep == 3 || syscall(__NR_close_range, 3U, (unsigned)keep - 1, 0U) == 0) &&
		   syscall(__NR_close_range, (unsigned)keep + 1, ~0U, 0U) == 0) {
		return;
	}
	/* Pre-5.9 kernels: close one by one up to the limit. */
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
		if (fd != keep)
			close((int)fd);
}

/* Tells cordon the walls are up and CMD is about to start: without this byte,
 * a failure is the sandbox's (exit 125 from cordon), not the command's. */
static void signal_ready(int fd)
{
	if (fd < 0)
		return;
	ssize_t n;
	do
		n = write(fd, "1", 1);
	while (n < 0 && errno == EINTR);
	close(fd);
}

/* Signals a terminal, a supervisor or cordon may send, relayed to CMD. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

static void exec_child(char **cmd)
{
	/* Own process group so a forwarded signal reaches CMD's whole job. */
	setpgid(0, 0);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL); /* glibc-reserved numbers fail harmlessly */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(cmd[0], cmd);
	int err = errno;
	fprintf(stderr, "cordon: %s: %s\n", cmd[0], strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

static int status_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(const struct run_config *c)
{
	close_inherited_fds(c->ready_fd);
	/* Required by landlock_restrict_self, and keeps CMD from gaining privileges
	 * through setuid binaries; bwrap has already set it, it is idempotent. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("prctl(PR_SET_NO_NEW_PRIVS)");
	apply_landlock(c);
	signal_ready(c->ready_fd);

	/* Outside a pid namespace, orphans of CMD still come back to us to reap. */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	/* An inherited SIG_IGN would make the kernel auto-reap and hide CMD's status. */
	signal(SIGCHLD, SIG_DFL);

	/* Block before fork: a signal arriving between fork and the wait loop stays
	 * pending and is relayed, never lost and never kills PID 1 by default. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
		die("sigprocmask");

	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0)
		exec_child(c->cmd);
	setpgid(child, child); /* also from here, so the group exists before any relay */

	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			die("sigwaitinfo");
		}
		if (sig == SIGCHLD) {
			/* One SIGCHLD may stand for many exits: reap all of them. */
			int st;
			pid_t p;
			while ((p = waitpid(-1, &st, WNOHANG)) > 0)
				if (p == child)
					return status_code(st);
			continue;
		}
		if (kill(-child, sig) < 0 && errno == ESRCH)
			kill(child, sig);
	}
}

/* Only a descriptor above stdio: writing the ready byte to 0-2 would corrupt them. */
static int parse_fd(const char *s)
{
	char *end;
	errno = 0;
	long fd = strtol(s, &end, 10);
	if (errno || end == s || *end || fd < 3 || fd > 65535)
		usage();
	return (int)fd;
}

static int cmd_run(int argc, char **argv)
{
	struct run_config c = { 0 };
	c.ready_fd = -1;
	c.rw = calloc((size_t)argc, sizeof *c.rw);
	c.rwnd = calloc((size_t)argc, sizeof *c.rwnd);
	if (!c.rw || !c.rwnd)
		die("calloc");
	int i = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--rw") == 0 && i + 1 < argc)
			c.rw[c.n_rw++] = argv[++i];
		else if (strcmp(argv[i], "--rwnd") == 0 && i + 1 < argc)
			c.rwnd[c.n_rwnd++] = argv[++i];
		else if (strcmp(argv[i], "--require-landlock") == 0)
			c.require_landlock = true;
		else if (strcmp(argv[i], "--ready-fd") == 0 && i + 1 < argc)
			c.ready_fd = parse_fd(argv[++i]);
		else
			usage();
	}
	if (i + 1 >= argc)
		usage();
	c.cmd = &argv[i + 1];
	return run(&c);
}

/* ----------------------------------------------------------------- scan -- */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static struct {
	char **match;
	size_t n_match;
	bool *literal; /* pattern without wildcards: strcmp is enough */
	unsigned max_depth;
	unsigned long errors;
	char *path; /* absolute path of the directory being read */
	size_t path_len, path_cap;
	char *names; /* stack of pending subdirectory names, NUL-separated */
	size_t names_len, names_cap;
	char out[1 << 16];
	size_t out_len;
	char dents[1 << 16];
} S;

static void grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t cap2 = *cap ? *cap : 4096;
	while (cap2 < need)
		cap2 *= 2;
	char *b = realloc(*buf, cap2);
	if (!b)
		die("realloc");
	*buf = b;
	*cap = cap2;
}

static void out_flush(void)
{
	for (size_t off = 0; off < S.out_len;) {
		ssize_t n = write(STDOUT_FILENO, S.out + off, S.out_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		off += (size_t)n;
	}
	S.out_len = 0;
}

static void out_put(const char *s, size_t n)
{
	while (n) {
		if (S.out_len == sizeof S.out)
			out_flush();
		size_t k = sizeof S.out - S.out_len;
		if (k > n)
			k = n;
		memcpy(S.out + S.out_len, s, k);
		S.out_len += k;
		s += k;
		n -= k;
	}
}

static void emit(char kind, const char *path, size_t len)
{
	char head[2] = { kind, '\t' };
	out_put(head, 2);
	out_put(path, len);
	out_put("", 1);
}

/* Appends "/name" to S.path; returns the length to restore afterwards. */
static size_t path_push(const char *name)
{
	size_t old = S.path_len, n = strlen(name);
	bool slash = !(old == 1 && S.path[0] == '/');
	grow(&S.path, &S.path_cap, old + n + 2);
	if (slash)
		S.path[S.path_len++] = '/';
	memcpy(S.path + S.path_len, name, n + 1);
	S.path_len += n;
	return old;
}

static void path_pop(size_t old)
{
	S.path_len = old;
	S.path[old] = '\0';
}

static bool matches(const char *name)
{
	for (size_t i = 0; i < S.n_match; i++)
		if (S.literal[i] ? strcmp(S.match[i], name) == 0 : fnmatch(S.match[i], name, 0) == 0)
			return true;
	return false;
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* d_type, asking the inode only when the filesystem does not say (DT_UNKNOWN). */
static unsigned entry_type(int dfd, const struct linux_dirent64 *d)
{
	struct stat st;
	if (d->d_type != DT_UNKNOWN)
		return d->d_type;
	if (fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	return S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
}

/* O_NOFOLLOW: a name swapped for a symlink after getdents is refused, not followed. */
static int open_dir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
		S.errors++; /* vanished or replaced mid-walk is not an error */
	return fd;
}

typedef void (*visit_fn)(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx);

/* Reads the whole directory, calls visit for each entry; visit may push names
 * of subdirectories to descend into after the read (so one dents buffer does). */
static void read_dir(int dfd, visit_fn visit, void *ctx)
{
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, S.dents, sizeof S.dents);
		if (n == 0)
			return;
		if (n < 0) {
			S.errors++;
			return;
		}
		for (long off = 0; off < n;) {
			const struct linux_dirent64 *d = (const void *)(S.dents + off);
			off += d->d_reclen;
			if (!is_dot(d->d_name))
				visit(dfd, d, entry_type(dfd, d), ctx);
		}
	}
}

static void names_push(const char *name)
{
	size_t n = strlen(name) + 1;
	grow(&S.names, &S.names_cap, S.names_len + n);
	memcpy(S.names + S.names_len, name, n);
	S.names_len += n;
}

/* Calls fn for each name pushed since mark, with the child opened and S.path set. */
static void descend(int dfd, size_t mark, void (*fn)(int fd, unsigned arg), unsigned arg)
{
	size_t end = S.names_len;
	for (size_t off = mark; off < end;) {
		const char *name = S.names + off; /* re-read: fn may realloc S.names */
		size_t n = strlen(name) + 1;
		int fd = open_dir(dfd, name);
		if (fd >= 0) {
			size_t old = path_push(name);
			fn(fd, arg);
			path_pop(old);
			close(fd);
		}
		off += n;
	}
	S.names_len = mark;
}

/* ---- .git/modules: find submodule git dirs, whatever the name's slashes ---- */

struct gitns {
	bool head, config, modules;
};

static void visit_gitns(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx)
{
	struct gitns *g = ctx;
	(void)dfd;
	if (strcmp(d->d_name, "HEAD") == 0)
		g->head = true;
	else if (strcmp(d->d_name, "config") == 0)
		g->config = true;
	if (type != DT_DIR)
		return;
	if (strcmp(d->d_name, "modules") == 0)
		g->modules = true;
	names_push(d->d_name);
}

/* container: a "modules" directory, whose subdirectories are module names. */
static void walk_gitns(int dfd, unsigned container)
{
	struct gitns g = { 0 };
	size_t mark = S.names_len;
	read_dir(dfd, visit_gitns, &g);
	if (!container && g.head && g.config) {
		emit('S', S.path, S.path_len);
		/* A git dir's insides are git's; only nested submodules matter. */
		S.names_len = mark;
		if (g.modules) {
			names_push("modules");
			descend(dfd, mark, walk_gitns, 1);
		}
		return;
	}
	descend(dfd, mark, walk_gitns, 0); /* a path component of a module name */
}

/* ---- the main walk ---- */

struct dirstate {
	bool git, git_dir;
};

static void visit_main(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx)
{
	struct dirstate *s = ctx;
	(void)dfd;
	if (S.n_match && matches(d->d_name)) {
		size_t old = path_push(d->d_name);
		emit('M', S.path, S.path_len);
		path_pop(old);
	}
	if (strcmp(d->d_name, ".git") == 0) {
		s->git = true; /* directory, gitfile or even a symlink: a work tree */
		s->git_dir = type == DT_DIR;
		return;
	}
	if (type == DT_DIR)
		names_push(d->d_name);
}

static void walk(int dfd, unsigned depth)
{
	struct dirstate s = { 0 };
	size_t mark = S.names_len;
	read_dir(dfd, visit_main, &s);
	if (s.git)
		emit('G', S.path, S.path_len);
	if (s.git_dir) {
		int fd = openat(dfd, ".git/modules", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			size_t old = path_push(".git/modules");
			walk_gitns(fd, 1);
			path_pop(old);
			close(fd);
		} else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
			S.errors++;
		}
	}
	if (depth >= S.max_depth) {
		S.names_len = mark;
		return;
	}
	descend(dfd, mark, walk, depth + 1);
}

static void scan_root(const char *root)
{
	S.path_len = 0;
	if (root[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (!cwd)
			die("getcwd");
		grow(&S.path, &S.path_cap, strlen(cwd) + 1);
		strcpy(S.path, cwd);
		S.path_len = strlen(cwd);
		free(cwd);
	}
	/* Append root component-wise so "a//b/" prints as "a/b". */
	char *copy = strdup(root);
	if (!copy)
		die("strdup");
	if (S.path_len == 0) {
		grow(&S.path, &S.path_cap, 2);
		strcpy(S.path, "/");
		S.path_len = 1;
	}
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
		if (strcmp(c, ".") != 0)
			path_push(c);
	free(copy);

	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			S.errors++;
		return;
	}
	walk(fd, 0);
	close(fd);
}

static int cmd_scan(int argc, char **argv)
{
	S.match = calloc((size_t)argc + 1, sizeof *S.match);
	S.literal = calloc((size_t)argc + 1, sizeof *S.literal);
	if (!S.match || !S.literal)
		die("calloc");
	S.max_depth = ~0U;
	int i = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--match") == 0 && i + 1 < argc) {
			const char *p = argv[++i];
			S.literal[S.n_match] = strpbrk(p, "*?[\\") == NULL;
			S.match[S.n_match++] = argv[i];
		} else if (strcmp(argv[i], "--max-depth") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			unsigned long n = strtoul(argv[++i], &end, 10);
			if (errno || *end || argv[i][0] == '\0' || argv[i][0] == '-' || n >= ~0U)
				usage();
			S.max_depth = (unsigned)n;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();

	/* One fd per directory level: lift the soft limit so deep trees fit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (i++; i < argc; i++)
		scan_root(argv[i]);
	if (S.errors) {
		char n[32];
		int len = snprintf(n, sizeof n, "%lu", S.errors);
		emit('E', n, (size_t)len);
	}
	out_flush();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(argv[1], "scan") == 0)
		return cmd_scan(argc - 2, argv + 2);
	if (strcmp(argv[1], "landlock-abi") == 0) {
		/* For `cordon doctor`: the Landlock ABI this kernel offers, 0 if none. */
		long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
		printf("%ld\n", abi < 0 ? 0L : abi);
		return 0;
	}
	usage();
}
