/*
 * cordon-helper: the tiny native part of cordon. It decides nothing; it applies
 * what the TypeScript side computed, because these steps need syscalls Node
 * cannot make.
 *
 *   cordon-helper run [--ro PATH]... [--null PATH]... [--pin PATH]...
 *                     [--landlock-handled MASK [--landlock-rule MASK PATH]...] [--ready-fd FD] -- CMD [ARGS...]
 *     Runs inside the bubblewrap sandbox as PID 1 (bwrap --as-pid-1), after the
 *     mounts and seccomp are in place. Refuses to start (125) when fd 0, 1 or
 *     2 is a socket CMD could aim elsewhere, or a directory; closes every
 *     inherited fd >= 3 (but the ready fd), applies the Landlock ruleset it
 *     is given, writes one byte to the
 *     ready fd and closes it, then forks CMD into its own process group,
 *     forwards signals to it, reaps every zombie (it is init) and exits with
 *     CMD's status (128+N if CMD was killed by signal N).
 *     --landlock-handled MASK: a ruleset handling exactly the access rights
 *     MASK (Landlock's LANDLOCK_ACCESS_FS_* bits, decimal); each
 *     --landlock-rule MASK PATH allows MASK beneath PATH (on a file, only its
 *     file rights). Which rights, and whether Landlock is applied at all, is
 *     the plan's decision (plan.ts, from the ABI cordon probed); a kernel
 *     that refuses the ruleset is a hard error, never a silent downgrade.
 *
 *   cordon-helper scan [--match PATTERN]... [--max-depth N] [--max-dirs N] [--cache FILE] [--wait-stdin [--say FD]] [--ids] [--git-entry NAME]... [--git-read NAME] [--git-needle TEXT]... [--new-links SINCE] -- ROOT...
 *     Runs on the host before every launch (and again after it): walks ROOTs
 *     (never following symlinks, crossing mount points, not descending into
 *     git dirs but for their modules/ and worktrees/) and prints
 *     NUL-terminated records on stdout:
 *       G\tPATH  a directory holding an entry named .git (work tree)
 *       B\tPATH  a directory that is itself a git dir, as git's
 *                is_git_directory() sees it: HEAD, and objects + refs or a
 *                commondir (a bare repository; git discovers it too). Its
 *                objects/ is not walked; its modules/ and worktrees/ are
 *                walked as a .git's.
 *       S\tPATH  a submodule git dir under some git dir's modules/ (HEAD with
 *                config, a commondir, or objects + refs)
 *       Y\tPATH  a symbolic link under some git dir's modules/, where a
 *                module's git dir goes, or a git dir's modules or worktrees
 *                that is itself a link: git follows it there (never followed
 *                here)
 *       W\tPATH  a linked worktree's git dir: a directory in some git dir's
 *                worktrees/ (a .git, a bare git dir, a submodule git dir)
 *       M\tPATH  an entry whose basename matches a --match fnmatch(3) pattern
 *       L\tPATH  (with --match only, not --match-no-links) a symbolic link that leads to a directory:
 *                what lies there is reached through PATH too
 *       N\tPATH  (with --new-links SINCE only) a symbolic link changed at or
 *                after SINCE (ns since the epoch), but a .git: the caller
 *                judges where it leads (never followed here); past
 *                NEW_LINKS_MAX of them, an I record for their directory
 *       I\tPATH  the scan could not look at everything below the directory
 *                PATH (a path too long to name, --max-dirs, a listing too
 *                large, out of descriptors, or a directory renamed or
 *                replaced while it was walked); the scan still exits 0
 *       U\tPATH  the directory PATH could not be opened or read, or was
 *                listed but an entry in it could not be looked at (read
 *                without search: a link there goes unseen) (the first
 *                UNREAD_LISTED of them; a command can lock one with chmod)
 *       E\tN     N directories could not be read (only if N > 0; N can
 *                exceed the U records)
 *       D\tID    (with --ids only) right after a G, B, S or Y record: the
 *                identity of its git dir (G: PATH/.git as it is, never
 *                followed; B, S: PATH; Y: the link itself), DEV:INO:BIRTH (birth time in ns, 0
 *                where the filesystem keeps none); no D when it cannot be
 *                looked at
 *       K\tFACTS (with --git-entry only) right after the D record (or where
 *                it would be): what the git dir holds, one letter per
 *                --git-entry NAME in the order given: - missing, d directory,
 *                f another file, l symbolic link, ? not known (a name of
 *                several components that passes a link or a non-directory, an
 *                error); for the --git-read NAME, a regular file is read
 *                whole (at most GIT_READ_MAX bytes) and is p (plain: no
 *                --git-needle in its ASCII-lowercased bytes) or m (one is).
 *                No K record where the git dir itself is not a directory
 *                (a .git link or file) or cannot be opened.
 *     --match-no-links PATTERN: as --match, without L records on its account
 *     (a stat of every link; cordon's protected names, looked for after a run).
 *     --max-depth N reads directories at most N levels below ROOT (ROOT = 0).
 *     --max-dirs N looks at most at N directories (then I records).
 *     --ids adds the D records.
 *     --cache FILE makes it incremental: directories unchanged since FILE
 *     recorded them are not read again (see "the incremental cache" below).
 *     FILE and its directory must be the caller's and not group/other
 *     writable, FILE no symlink; else it is ignored (one warning on stderr).
 *     The records are the same as without --cache.
 *     --wait-stdin: started ahead of need, waits for cordon's go on stdin
 *     before it looks at anything (so cordon pays no process start when the
 *     scan is due); an empty message or EOF instead exits 0 with no output.
 *     It also watches the run for cordon's death ("after cordon's death"
 *     below); --say FD is where what it then starts speaks.
 *
 *   cordon-helper with-scan OUT ERR STATUS N SCANARG... PROG ARG...
 *     Starts cordon's sandbox process and the scan before the run with one
 *     process start of Node's (each costs Node milliseconds of its main
 *     thread): forks a child that runs `scan SCANARG...` (its N arguments)
 *     with stdout on fd OUT, stderr on fd ERR and nothing else open, and
 *     that writes its exit status as one byte on fd STATUS; then closes
 *     OUT, ERR and STATUS and execs PROG (bubblewrap) in this process, so
 *     cordon's child is PROG itself. With `--then THEN OUT2 ERR2 STATUS2`
 *     before PROG, a second child waits for the arguments of another scan
 *     (the one after the run) on fd THEN, after their length (decimal and
 *     a NUL) and NUL-terminated each, and runs it as the first, on OUT2,
 *     ERR2 and STATUS2; an empty message or EOF with none ends it. It also
 *     watches the run for cordon's death ("after cordon's death" below),
 *     with `--say FD` after STATUS2 as --wait-stdin's.
 *
 *   cordon-helper setaside ROOT OP...
 *     Runs on the host after a run: moves aside, fd-relative beneath ROOT,
 *     what the command created that git would run code from (setaside.h).
 *
 *   cordon-helper landlock-abi
 *     Prints the kernel's Landlock ABI version (0: none): cordon's probe
 *     (probe.ts) and `cordon doctor`.
 *
 * Trust boundary: argv comes from cordon (trusted). Everything the scanner
 * reads from the filesystem (names, types, symlinks) is attacker-controlled:
 * the walked trees are writable by the confined command; names are only ever
 * copied and printed, never interpreted, and symlinks are never followed.
 *
 * Exit codes: 125 is reserved for the helper's own failures (bad usage,
 * Landlock refused, fork failure); 126/127 mean CMD could not be
 * executed (127: not found); anything else is CMD's own status.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* Older headers (Debian 12) lack the newer numbers and rights. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* Generated from native/protocol.json (scripts/build-native.mjs): the names and numbers cordon's TypeScript uses too. */
#include "cordon-protocol.h"

#define EXIT_HELPER CORDON_EXIT_FAILURE

__attribute__((noreturn)) static void usage(void)
{
	fputs("usage: cordon-helper run [--args-fd FD] [--ro PATH]... [--null PATH]... [--pin PATH]... [--landlock-handled MASK [--landlock-rule MASK PATH]...]\n"
	      "                          [--unix-grant SOCKET]... [--hold PATH]... [--seccomp-fd FD] [--ready-fd FD] [--stderr-fd FD] [--report-fd FD [--report-quiet DIR]... [--report-loud PATH]... [--report-truncate]] -- CMD [ARGS...]\n"
	      "       cordon-helper scan [--match PATTERN]... [--max-depth N] [--max-dirs N] [--cache FILE] [--wait-stdin [--say FD]] [--ids] [--git-entry NAME]... [--git-read NAME] [--git-needle TEXT]... [--new-links SINCE] -- ROOT...\n"
	      "       cordon-helper setaside ROOT [--move REL | --move-read REL | --move-hooks REL | --move-unless-dir REL | --create REL TEXT | --relink REL TARGET]...\n"
	      "       cordon-helper landlock-abi\n"
	      "       cordon-helper connect HOST PORT   (ssh ProxyCommand inside the sandbox)\n",
	      stderr);
	exit(EXIT_HELPER);
}

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "cordon: %s: %s\n", what, strerror(errno));
	exit(EXIT_HELPER);
}

/* ------------------------------------------------------------------ run -- */

struct mount_op {
	const char *path;
	bool null; /* bind /dev/null over a file; else bind the path onto itself */
	bool pin; /* bind the path onto itself as it is (writable stays writable): a
		   * mount point cannot be renamed or removed (EBUSY), so the
		   * protected paths beneath it cannot be carried away */
};

struct landlock_rule {
	const char *path;
	uint64_t rights;
};

struct run_config {
	bool landlock; /* --landlock-handled given: apply a ruleset */
	uint64_t landlock_handled;
	struct landlock_rule *rules; /* point into argv */
	size_t n_rules;
	struct mount_op *mounts; /* read-only mounts, in order (shallow to deep) */
	size_t n_mounts;
	const char **unix_grants; /* host Unix sockets CMD may connect to (resolved paths) */
	size_t n_unix_grants;
	int ready_fd; /* -1: none */
	int seccomp_fd; /* -1: none */
	int stderr_fd; /* -1: none; else CMD's (and our) stderr, fd 2 being bubblewrap's */
	int report_fd; /* -1: none; else where write-intent calls are recorded (violations.h) */
	const char **report_quiet, **report_loud; /* what need not be recorded (violations.h) */
	size_t n_report_quiet, n_report_loud;
	const char **holds; /* --hold: paths whose mounts the command must not outlive (holds.h) */
	size_t n_holds;
	char **cmd;
};

/* The kernel rejects directory-only rights on a rule for a single file. */
static const uint64_t file_rights = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
				    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE;

static void add_rule(int ruleset, const struct landlock_rule *r)
{
	struct landlock_path_beneath_attr attr = { 0 };
	struct stat st;
	int fd = open(r->path, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "cordon: landlock path %s: %s\n", r->path, strerror(errno));
		exit(EXIT_HELPER);
	}
	attr.allowed_access = S_ISDIR(st.st_mode) ? r->rights : r->rights & file_rights;
	attr.parent_fd = fd;
	if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0) {
		fprintf(stderr, "cordon: landlock rule for %s: %s\n", r->path, strerror(errno));
		exit(EXIT_HELPER);
	}
	close(fd);
}

/* Exactly the plan's ruleset (plan.ts: landlockPlan); nothing is chosen here. */
static void apply_landlock(const struct run_config *c)
{
	if (!c->landlock)
		return;
	struct landlock_ruleset_attr attr = { 0 };
	attr.handled_access_fs = c->landlock_handled;
	int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (ruleset < 0) {
		fprintf(stderr, "cordon: the kernel refused the Landlock ruleset this sandbox's plan asks for (access rights %#llx): %s. "
				"cordon planned it for the Landlock ABI it probed on this machine; run 'cordon doctor' to see what the kernel offers\n",
			(unsigned long long)c->landlock_handled, strerror(errno));
		exit(EXIT_HELPER);
	}
	for (size_t i = 0; i < c->n_rules; i++)
		add_rule(ruleset, &c->rules[i]);
	if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		die("landlock_restrict_self");
	close(ruleset);
}

/*
 * The read-only mounts and the pins (a writable directory bound onto itself,
 * so that it cannot be renamed away with the protected paths beneath it:
 * test/integration/filesystem/pins.test.ts). bubblewrap can make them too, but it re-reads
 * /proc/self/mountinfo for every bind, which made ~60 protections cost
 * ~14 ms; the new mount API makes each one a few system calls (~10 us).
 *
 * They are made in a mount namespace of the helper's own: bubblewrap leaves
 * the helper in a nested user namespace (--disable-userns, and for
 * unprivileged callers its devpts step), which has no rights over
 * bubblewrap's mount namespace but owns a new one. Mounts copied into it are
 * locked: nothing can be unmounted to reveal what lies beneath, and read-only
 * cannot be lifted; these mounts only add restrictions on top.
 *
 * Every source is opened before anything is mounted, so sources are read in
 * the view bubblewrap built, as if bubblewrap had bound them itself. Each
 * open source holds a descriptor: when RLIMIT_NOFILE runs out first (a plan
 * of thousands of mounts under a hard `ulimit -n` of a few hundred; Node
 * already raised the soft limit to the hard one), the sources opened so far
 * are mounted and the rest are opened after them. A later source is then
 * read through the earlier mounts, which changes nothing: the mounts go
 * from shallow to deep, each binds a path onto itself, and a read-only one
 * (which would make a later source beneath it read-only too) never has a
 * pin or anything writable beneath it (plan.ts: pinChains stops at a
 * read-only directory). Only a limit too low for a single source fails
 * (test/integration/filesystem/mount-limit.test.ts).
 */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* Opens the sources of the mounts from `from` on, until the last one or
 * until the descriptors run out (after one at least); returns where it stopped. */
static size_t open_sources(const struct run_config *c, int *trees, size_t from)
{
	size_t i = from;
	for (; i < c->n_mounts; i++) {
		const char *src = c->mounts[i].null ? "/dev/null" : c->mounts[i].path;
		trees[i] = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
		if (trees[i] >= 0)
			continue;
		if (errno == ENOSYS) {
			fputs("cordon: this kernel lacks the mount API cordon uses (open_tree, mount_setattr: Linux >= 5.12)\n", stderr);
			exit(EXIT_HELPER);
		}
		if ((errno == EMFILE || errno == ENFILE) && i > from)
			break;
		if (errno == EMFILE || errno == ENFILE) {
			struct rlimit rl = { 0 };
			getrlimit(RLIMIT_NOFILE, &rl);
			fprintf(stderr, "cordon: no file descriptor left to open the mount source %s (%s; RLIMIT_NOFILE %llu): "
					"raise the limit (ulimit -n)\n", src, strerror(errno), (unsigned long long)rl.rlim_cur);
			exit(EXIT_HELPER);
		}
		fprintf(stderr, "cordon: open_tree %s: %s\n", src, strerror(errno));
		exit(EXIT_HELPER);
	}
	return i;
}

static void apply_mounts(const struct run_config *c)
{
	if (c->n_mounts == 0)
		return;
	if (unshare(CLONE_NEWNS) < 0)
		die("unshare(mount namespace)");
	/* Receive nothing back from, and send nothing to, any other namespace's mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		die("make / a slave mount");
	int *trees = calloc(c->n_mounts, sizeof *trees);
	if (!trees)
		die("calloc");
	for (size_t from = 0, to; from < c->n_mounts; from = to) {
		to = open_sources(c, trees, from);
		for (size_t i = from; i < to; i++) {
			/* /dev/null stays a device (reads are empty, as with bubblewrap's bind), not EACCES. */
			struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | (c->mounts[i].null ? 0 : MOUNT_ATTR_NODEV) };
			/* A pin keeps the flags bubblewrap gave the tree (nosuid, nodev) and its submounts'. */
			if (!c->mounts[i].pin && syscall(SYS_mount_setattr, trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
				fprintf(stderr, "cordon: mount_setattr %s: %s\n", c->mounts[i].path, strerror(errno));
				exit(EXIT_HELPER);
			}
			/* The target is never followed through a symlink: the policy resolved it. */
			if (syscall(SYS_move_mount, trees[i], "", AT_FDCWD, c->mounts[i].path, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
				fprintf(stderr, "cordon: %s mount on %s: %s\n", c->mounts[i].pin ? "pin" : "read-only", c->mounts[i].path, strerror(errno));
				exit(EXIT_HELPER);
			}
			close(trees[i]);
		}
	}
	free(trees);
}

/*
 * Gives up every capability for good: the mounts above were the only reason
 * to hold any. Bounding set emptied (so no execve can bring one back, not
 * even for uid 0), ambient and inheritable cleared, then verified: a helper
 * that cannot prove the command starts without capabilities does not start it.
 */
static void drop_capabilities(void)
{
	for (int cap = 0; cap <= 63; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break; /* past the kernel's last capability */
		if (in == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			die("drop capability from the bounding set");
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die("clear ambient capabilities");
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	if (syscall(SYS_capset, &hdr, data) < 0)
		die("capset");
	if (syscall(SYS_capget, &hdr, data) < 0)
		die("capget");
	bool left = data[0].effective || data[0].permitted || data[0].inheritable || data[1].effective || data[1].permitted || data[1].inheritable;
	for (int cap = 0; cap <= 63 && !left; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break;
		left = in == 1 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1;
	}
	if (left) {
		fputs("cordon: capabilities remain after dropping them all; refusing to start the command\n", stderr);
		exit(EXIT_HELPER);
	}
}

/* Everything on fd until EOF (then closes it); *len is its size. `what` names it in an error. */
static char *read_all(int fd, const char *what, size_t *len)
{
	size_t cap = 4096;
	char *buf = malloc(cap);
	*len = 0;
	for (;;) {
		if (!buf || (*len == cap && !(buf = realloc(buf, cap *= 2))))
			die("malloc");
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(what);
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	close(fd);
	return buf;
}

/* cordon's BPF program, read whole from its fd (bubblewrap's --seccomp format: raw sock_filter array). */
static struct sock_fprog read_seccomp(int fd)
{
	struct sock_fprog prog = { 0 };
	if (fd < 0)
		return prog;
	size_t len;
	char *buf = read_all(fd, "read seccomp program", &len);
	if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		fprintf(stderr, "cordon: invalid seccomp program (%zu bytes)\n", len);
		exit(EXIT_HELPER);
	}
	prog.len = (unsigned short)(len / sizeof(struct sock_filter));
	prog.filter = (struct sock_filter *)buf;
	return prog;
}

static void apply_seccomp(const struct sock_fprog *prog)
{
	if (!prog->filter)
		return;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) < 0)
		die("install the seccomp filter");
}

/* Closes every fd >= 3 except `keep` and `keep2` (the ready and report fds, or -1). */
static void close_inherited_fds(int keep, int keep2)
{
	int k[2] = { keep < keep2 ? keep : keep2, keep < keep2 ? keep2 : keep };
	unsigned from = 3;
	bool ok = true;
	for (int i = 0; i < 2 && ok; i++) {
		if (k[i] < (int)from)
			continue;
		if (k[i] > (int)from)
			ok = syscall(__NR_close_range, from, (unsigned)k[i] - 1, 0U) == 0;
		from = (unsigned)k[i] + 1;
	}
	if (ok && syscall(__NR_close_range, from, ~0U, 0U) == 0)
		return;
	/* Pre-5.9 kernels: close one by one up to the limit. */
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
		if (fd != keep && fd != keep2)
			close((int)fd);
}

/*
 * CMD's stdio comes from cordon's caller. A socket there keeps the network
 * namespace it was made in and was never seen by the filter, so one that CMD
 * could aim elsewhere is a way out: an AF_UNIX datagram socket sends to any
 * host socket path, an unconnected AF_UNIX stream socket connects to one, and
 * any AF_INET/AF_INET6 socket reaches the host's network (connect(AF_UNSPEC)
 * disconnects even a connected or listening TCP socket). Kept: what cannot be
 * re-aimed, a connected AF_UNIX stream or seqpacket socket (af_unix never
 * disconnects one: Node's and systemd's stdio) or a listening one (connect()
 * on it is EINVAL). Also refused: a directory, whose fd would open paths
 * past the sandbox's mounts. Proved in
 * test/integration/process/seccomp.test.ts ("inherited").
 */
static void refuse_reroutable_stdio(void)
{
	static const char *const names[] = { "stdin", "stdout", "stderr" };
	for (int fd = 0; fd <= 2; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		char what[96];
		const char *why = "the command could aim it past the sandbox, at host sockets or the host's network";
		if (S_ISDIR(st.st_mode)) {
			snprintf(what, sizeof what, "a directory");
			why = "the command could open paths through it past the sandbox's mounts";
		} else if (S_ISSOCK(st.st_mode)) {
			int domain = -1, type = -1, listening = 0;
			socklen_t l = sizeof domain;
			getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l);
			l = sizeof type;
			getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
			l = sizeof listening;
			getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l);
			struct sockaddr_storage peer;
			socklen_t pl = sizeof peer;
			bool connected = getpeername(fd, (struct sockaddr *)&peer, &pl) == 0;
			if (domain == AF_UNIX && (type == SOCK_STREAM || type == SOCK_SEQPACKET) && (connected || listening))
				continue;
			const char *family = domain == AF_UNIX ? "Unix" : domain == AF_INET ? "IPv4" : domain == AF_INET6 ? "IPv6" : "another family";
			const char *kind = type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : type == SOCK_SEQPACKET ? "seqpacket" : "raw";
			snprintf(what, sizeof what, "a socket (%s, %s%s)", family, kind, connected ? ", connected" : listening ? ", listening" : ", unconnected");
		} else {
			continue;
		}
		fprintf(stderr, "cordon: fd %d (%s) is %s: %s. Refusing to start; give the command a pipe, a file or a terminal "
				"there instead (e.g. `... | cordon ...` or `cordon ... < /dev/null`)\n",
			fd, names[fd], what, why);
		exit(EXIT_HELPER);
	}
}

/* Tells cordon the walls are up and CMD is about to start: without this byte,
 * a failure is the sandbox's (exit 125 from cordon), not the command's.
 * `keep`: the fd stays open (never CMD's) for what PID 1 says later (holds.h). */
static int said_fd = -1;

static void signal_ready(int fd, bool keep)
{
	if (fd < 0)
		return;
	ssize_t n;
	do
		n = write(fd, "1", 1);
	while (n < 0 && errno == EINTR);
	/* Kept only where cordon read the byte: a write to a reader gone is no SIGPIPE death (CMD's own disposition is reset at its exec). */
	if (keep && n == 1 && fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) {
		signal(SIGPIPE, SIG_IGN);
		said_fd = fd;
	} else
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
	_exit(err == ENOENT ? CORDON_EXIT_NOT_FOUND : CORDON_EXIT_CANNOT_EXECUTE);
}

static int status_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Unix socket grants. cordon's filter normally refuses socket(AF_UNIX)
 * outright. With grants, it lets CMD create stream Unix sockets, and a second
 * filter (installed in CMD's process only, with a listener) turns every
 * connect() into a question to PID 1, which answers it here:
 *
 *  - PID 1 takes its own reference to the socket (pidfd_getfd) and looks at
 *    what it is, never trusting CMD's memory or fd table twice: it connects
 *    that socket itself and hands back the result. CONTINUE is never used,
 *    since CMD could swap the fd or the address between the check and the
 *    kernel's second look.
 *  - A pathname Unix address is resolved (relative to CMD's cwd, symlinks
 *    followed) and must be exactly a granted socket; PID 1 then connects to
 *    the socket it opened before CMD existed (/proc/self/fd/N of an O_PATH
 *    descriptor), never to a name again: CMD could rename a directory on the
 *    granted path (one it can write, a private /tmp's) between the check and
 *    the connect, and the name would lead to another socket. Anything else:
 *    EACCES, and one line on stderr naming the path.
 *  - Abstract Unix addresses live in the sandbox's own network namespace
 *    (nothing of the host's is there) and are connected as asked; so are
 *    TCP/UDP/other sockets, in a thread each so that a slow connect blocks
 *    no one else.
 *
 * Datagram Unix sockets stay refused by the first filter: sendto() with an
 * address would reach host sockets without a connect().
 */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

struct grants {
	const char **paths;
	int *fds; /* each granted socket, opened (O_PATH) before CMD existed; -1 if it was not a socket then */
	size_t n;
	int listener;
};

static void notif_reply(int listener, uint64_t id, int err)
{
	struct seccomp_notif_resp resp = { .id = id, .val = 0, .error = err ? -err : 0, .flags = 0 };
	/* ENOENT: CMD's thread is gone (killed, or the call interrupted); nothing to answer. */
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
		perror("cordon: seccomp notification reply");
}

struct deferred {
	int listener, sock;
	uint64_t id;
	socklen_t len;
	struct sockaddr_storage addr;
};

static void *connect_deferred(void *arg)
{
	struct deferred *d = arg;
	int err = connect(d->sock, (struct sockaddr *)&d->addr, d->len) < 0 ? errno : 0;
	notif_reply(d->listener, d->id, err);
	close(d->sock);
	free(d);
	return NULL;
}

/* The cwd-relative or absolute path CMD named, resolved in our (identical) mount view; NULL if it cannot be. */
static char *resolve_unix_path(pid_t pid, const char *path)
{
	char buf[PATH_MAX * 2];
	if (path[0] == '/') {
		snprintf(buf, sizeof buf, "%s", path);
	} else {
		char link[64], cwd[PATH_MAX];
		snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
		ssize_t n = readlink(link, cwd, sizeof cwd - 1);
		if (n < 0)
			return NULL;
		cwd[n] = 0;
		snprintf(buf, sizeof buf, "%s/%s", cwd, path);
	}
	return realpath(buf, NULL);
}

#include "violations.h"

/* How many paths of refused Unix socket connections PID 1 names on cordon's stderr; past that, one line says the rest are not. */
#define UNIX_REFUSALS_SAID 20

/*
 * One refused Unix socket connection, on cordon's stderr, once per path (a
 * libc that asks nscd at every user lookup asks often). The path is the
 * command's choice: every byte but printable ASCII (and the backslash) is
 * written as \xNN, so it can neither move the terminal's cursor, set its
 * title, nor start a line that reads as cordon's. A command that loops on
 * connect() to new paths gets the first UNIX_REFUSALS_SAID named, then one
 * line. Only the supervisor thread calls it.
 */
static void say_unix_refusal(const char *path, const char *why)
{
	static char *named[UNIX_REFUSALS_SAID];
	static unsigned said;
	for (unsigned i = 0; i < said && i < UNIX_REFUSALS_SAID; i++)
		if (strcmp(named[i], path) == 0)
			return;
	if (said > UNIX_REFUSALS_SAID)
		return;
	if (said == UNIX_REFUSALS_SAID) {
		said++;
		fprintf(stderr, "cordon: Unix socket connections to more paths were refused; they are not named\n");
		return;
	}
	named[said] = strdup(path);
	if (!named[said])
		return;
	said++;
	char out[sizeof ((struct sockaddr_un *)0)->sun_path * 4 + 1];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < sizeof out; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", *p);
	}
	out[o] = 0;
	fprintf(stderr, "cordon: refused a Unix socket connection to %s (%s)\n", out, why);
}

/* False when nothing was received (EINTR, the target died first, the listener is gone). */
static bool handle_notification(const struct grants *g)
{
	struct seccomp_notif req;
	memset(&req, 0, sizeof req);
	if (ioctl(g->listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
		return false;
	if (req.data.nr != SYS_connect) {
		handle_write_notice(g->listener, &req); /* only ever CONTINUE: reporting decides nothing */
		return true;
	}
	int pidfd = (int)syscall(SYS_pidfd_open, req.pid, 0);
	int sock = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, (int)req.data.args[0], 0);
	int err = sock < 0 ? errno : 0;
	if (pidfd >= 0)
		close(pidfd);
	if (sock < 0) {
		notif_reply(g->listener, req.id, err == EBADF ? EBADF : EPERM);
		return true;
	}
	int domain = 0;
	socklen_t dl = sizeof domain;
	if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &dl) < 0) {
		err = errno;
		close(sock);
		notif_reply(g->listener, req.id, err);
		return true;
	}
	struct sockaddr_storage addr;
	memset(&addr, 0, sizeof addr);
	socklen_t len = (socklen_t)(req.data.args[2] > sizeof addr ? sizeof addr : req.data.args[2]);
	struct iovec local = { &addr, len }, remote = { (void *)(uintptr_t)req.data.args[1], len };
	if (process_vm_readv(req.pid, &local, 1, &remote, 1, 0) != (ssize_t)len) {
		close(sock);
		notif_reply(g->listener, req.id, EFAULT);
		return true;
	}
	/* The memory read belongs to the thread that asked, not to a recycled pid. */
	if (ioctl(g->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) < 0) {
		close(sock);
		return true;
	}
	if (domain != AF_UNIX) {
		struct deferred *d = malloc(sizeof *d);
		pthread_t t;
		pthread_attr_t attr;
		if (!d) {
			close(sock);
			notif_reply(g->listener, req.id, ENOMEM);
			return true;
		}
		*d = (struct deferred){ .listener = g->listener, .sock = sock, .id = req.id, .len = len, .addr = addr };
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, connect_deferred, d) != 0)
			connect_deferred(d);
		pthread_attr_destroy(&attr);
		return true;
	}
	struct sockaddr_un *un = (struct sockaddr_un *)&addr;
	size_t path_len = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
	if (un->sun_family != AF_UNIX || path_len == 0) {
		err = connect(sock, (struct sockaddr *)&addr, len) < 0 ? errno : 0; /* the kernel's own EINVAL */
	} else if (un->sun_path[0] == 0) {
		/* Abstract: only this sandbox's network namespace has any. */
		err = connect(sock, (struct sockaddr *)&addr, len) < 0 ? errno : 0;
	} else {
		char asked[sizeof un->sun_path + 1];
		memcpy(asked, un->sun_path, path_len < sizeof un->sun_path ? path_len : sizeof un->sun_path);
		asked[path_len < sizeof un->sun_path ? path_len : sizeof un->sun_path] = 0;
		char *real = resolve_unix_path(req.pid, asked);
		const char *granted = NULL;
		int granted_fd = -1;
		for (size_t i = 0; real && i < g->n; i++)
			if (strcmp(real, g->paths[i]) == 0) {
				granted = g->paths[i];
				granted_fd = g->fds[i];
			}
		struct sockaddr_un to = { .sun_family = AF_UNIX };
		if (granted && granted_fd < 0) {
			say_unix_refusal(granted, "no socket was there when the sandbox started");
			err = ECONNREFUSED;
		} else if (granted) {
			snprintf(to.sun_path, sizeof to.sun_path, "/proc/self/fd/%d", granted_fd);
			err = connect(sock, (struct sockaddr *)&to, sizeof to) < 0 ? errno : 0;
		} else {
			say_unix_refusal(real ? real : asked, "not in network.allowUnixSockets");
			err = EACCES;
		}
		free(real);
	}
	close(sock);
	notif_reply(g->listener, req.id, err);
	return true;
}

/*
 * The supervisor: a thread of PID 1's own that waits in RECV, so that a
 * notification is answered as soon as it comes, not after a poll (main
 * waits for signals). It ends with PID 1.
 */
static void *supervise(void *arg)
{
	const struct grants *g = arg;
	for (;;) {
		if (handle_notification(g))
			continue;
		struct pollfd p = { .fd = g->listener, .events = POLLIN };
		if (poll(&p, 1, 100) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
			return NULL; /* no process is left to ask */
	}
}

/* The second filter (one listener per process: connect() and the reported calls share it): see install_listener in violations.h. */

static void send_fd(int over, int fd)
{
	char byte = 'L';
	struct iovec iov = { &byte, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	memset(&u, 0, sizeof u);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	if (sendmsg(over, &msg, 0) != 1)
		_exit(EXIT_HELPER);
}

static int recv_fd(int over)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	ssize_t n;
	do
		n = recvmsg(over, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (n != 1 || !cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

#include "holds.h"

static int run(const struct run_config *c)
{
	/* bubblewrap's own stderr is a pipe cordon reads (so that the message of
	 * a sandbox cordon started ahead and then did not use is not printed);
	 * the caller's stderr comes on stderr_fd and is CMD's from here on. */
	if (c->stderr_fd >= 0) {
		if (dup2(c->stderr_fd, 2) < 0)
			die("dup2(stderr)");
		close(c->stderr_fd);
	}
	refuse_reroutable_stdio();
	struct sock_fprog filter = read_seccomp(c->seccomp_fd);
	close_inherited_fds(c->ready_fd, c->report_fd);
	/* bubblewrap entered the working directory before these mounts: a
	 * directory entered then stays on the mount it was reached through, and a
	 * lookup from it sees nothing stacked since (a pin of the working
	 * directory or of a directory above it moves every later mount below it
	 * out of that lookup's way). So it is entered again, by name, after them. */
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		die("getcwd");
	apply_mounts(c);
	if (chdir(cwd) < 0)
		die("chdir (the working directory, again after the mounts)");
	free(cwd);
	find_holds(c);
	drop_capabilities();
	/* Required by landlock_restrict_self and by an unprivileged seccomp
	 * filter, and keeps CMD from gaining privileges through setuid binaries. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("prctl(PR_SET_NO_NEW_PRIVS)");
	apply_landlock(c);
	/* Last: the filter forbids mounts and namespaces, which the steps above needed. */
	apply_seccomp(&filter);
	signal_ready(c->ready_fd, c->n_holds > 0);
	/* A signal that ends a process, sent while the walls went up: the command
	 * never starts, and the run ends as it would have by that signal. */
	sigset_t pending;
	if (sigpending(&pending) == 0)
		for (size_t f = 0; f < sizeof forwarded / sizeof forwarded[0]; f++)
			if (forwarded[f] != SIGWINCH && forwarded[f] != SIGCONT && sigismember(&pending, forwarded[f]))
				return 128 + forwarded[f];

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

	/* A listener for Unix socket grants, for reporting, or both (violations.h). */
	bool supervised = c->n_unix_grants || c->report_fd >= 0;
	int pass[2] = { -1, -1 };
	if (supervised && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pass) < 0)
		die("socketpair");
	if (c->report_fd >= 0 && fcntl(c->report_fd, F_SETFD, FD_CLOEXEC) < 0)
		die("the report fd");
	/* Not dumpable, before CMD exists: CMD (same uid, no capabilities) can at
	 * no moment ptrace PID 1, read its memory or take its descriptors (the
	 * listener above all) with pidfd_getfd, whatever the host's Yama setting.
	 * The child inherits it until its exec, which makes CMD dumpable again
	 * (a debugger inside works on CMD's own processes). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("prctl(PR_SET_DUMPABLE)");
	/* The granted sockets themselves, before CMD exists to move anything:
	 * connects go to these, whatever their names lead to later. */
	int *grant_fds = calloc(c->n_unix_grants + 1, sizeof *grant_fds);
	if (!grant_fds)
		die("calloc");
	for (size_t i = 0; i < c->n_unix_grants; i++) {
		struct stat gst;
		grant_fds[i] = open(c->unix_grants[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (grant_fds[i] >= 0 && (fstat(grant_fds[i], &gst) < 0 || !S_ISSOCK(gst.st_mode))) {
			close(grant_fds[i]);
			grant_fds[i] = -1;
		}
	}
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		if (supervised) {
			/* CMD's own process gets the listener filter; PID 1 keeps the listener. */
			int listener = install_listener(c->n_unix_grants > 0, c->report_fd >= 0);
			if (listener < 0) {
				fprintf(stderr, "cordon: %s need seccomp user notification (Linux >= 5.6): %s\n", c->n_unix_grants ? "Unix socket grants" : "reports of refused writes", strerror(errno));
				_exit(EXIT_HELPER);
			}
			send_fd(pass[1], listener);
			close(listener);
			close(pass[0]);
			close(pass[1]);
		}
		exec_child(c->cmd);
	}
	setpgid(child, child); /* also from here, so the group exists before any relay */
	if (held.n > 0) {
		held.child = child;
		pthread_t w;
		if (pthread_create(&w, NULL, watch_holds, NULL) != 0) {
			kill(child, SIGKILL); /* never unwatched: a held path replaced on the host would go unnoticed */
			waitpid(child, NULL, 0);
			fputs("cordon: could not start the thread that watches the held mounts\n", stderr);
			return EXIT_HELPER;
		}
	}
	struct grants g = { .paths = c->unix_grants, .fds = grant_fds, .n = c->n_unix_grants, .listener = -1 };
	report.fd = c->report_fd;
	report.quiet = c->report_quiet;
	report.n_quiet = c->n_report_quiet;
	report.loud = c->report_loud;
	report.n_loud = c->n_report_loud;
	if (report.fd >= 0) {
		/* Never CMD's (close-on-exec was set before fork), never a SIGPIPE to PID 1. */
		signal(SIGPIPE, SIG_IGN);
	}
	if (supervised) {
		close(pass[1]);
		g.listener = recv_fd(pass[0]);
		close(pass[0]);
		if (g.listener < 0) {
			kill(child, SIGKILL); /* it could not install the filter: it must not run unsupervised */
			waitpid(child, NULL, 0);
			fputs("cordon: the command could not be put under seccomp supervision\n", stderr);
			return EXIT_HELPER;
		}
		pthread_t t;
		if (pthread_create(&t, NULL, supervise, &g) != 0) {
			kill(child, SIGKILL); /* never unsupervised: its connect()s would hang, with no one to answer */
			waitpid(child, NULL, 0);
			fputs("cordon: could not start the seccomp supervisor thread\n", stderr);
			return EXIT_HELPER;
		}
	}

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
				if (p == child) {
					report_flush(); /* the last refusals' records (violations.h) */
					return holds_kept() ? status_code(st) : EXIT_HELPER;
				}
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

/* A Landlock access mask: decimal, non-zero. */
static uint64_t parse_mask(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long m = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] < '0' || s[0] > '9' || m == 0)
		usage();
	return (uint64_t)m;
}

/*
 * --args-fd N (first): the options before `--` come NUL-separated on fd N
 * instead of argv, so that the mount list has no argv size limit (E2BIG: a
 * deep tree needs a pin per level, each naming a long path).
 */
static void options_from(int fd, int *argc, char ***argv);

static void options_from_fd(int *argc, char ***argv)
{
	if (*argc < 2 || strcmp((*argv)[0], CORDON_HELPER_OPTION_ARGS_FD) != 0)
		return;
	options_from(parse_fd((*argv)[1]), argc, argv);
}

/* Reads NUL-separated options from fd and puts them before argv[2...]. */
static void options_from(int fd, int *argc, char ***argv)
{
	size_t len;
	char *buf = read_all(fd, "read the options fd", &len);
	if (len && buf[len - 1] != 0)
		usage();
	size_t n_opts = 0;
	for (size_t k = 0; k < len; k++)
		n_opts += buf[k] == 0;
	char **out = calloc(n_opts + (size_t)*argc - 2 + 1, sizeof *out);
	if (!out)
		die("calloc");
	size_t o = 0;
	for (size_t k = 0; k < len; k += strlen(buf + k) + 1)
		out[o++] = buf + k;
	for (int k = 2; k < *argc; k++)
		out[o++] = (*argv)[k];
	*argc = (int)o;
	*argv = out;
}

static int cmd_run(int argc, char **argv)
{
	/* Held from the first moment: a signal cordon forwards while the walls go
	 * up would be lost (PID 1 of a namespace drops one it has no handler for;
	 * a blocked one stays pending), and the command would run as if none came.
	 * One still pending when the walls are up means the command never starts. */
	sigset_t early;
	sigemptyset(&early);
	for (size_t f = 0; f < sizeof forwarded / sizeof forwarded[0]; f++)
		sigaddset(&early, forwarded[f]);
	sigprocmask(SIG_BLOCK, &early, NULL);
	options_from_fd(&argc, &argv);
	struct run_config c = { 0 };
	c.ready_fd = -1;
	c.seccomp_fd = -1;
	c.stderr_fd = -1;
	c.report_fd = -1;
	c.report_quiet = calloc((size_t)argc, sizeof *c.report_quiet);
	c.report_loud = calloc((size_t)argc, sizeof *c.report_loud);
	if (!c.report_quiet || !c.report_loud)
		die("calloc");
	c.rules = calloc((size_t)argc, sizeof *c.rules);
	c.mounts = calloc((size_t)argc, sizeof *c.mounts);
	c.unix_grants = calloc((size_t)argc, sizeof *c.unix_grants);
	c.holds = calloc((size_t)argc, sizeof *c.holds);
	if (!c.rules || !c.mounts || !c.unix_grants || !c.holds)
		die("calloc");
	int i = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		const char *o = argv[i];
		bool ro = strcmp(o, CORDON_HELPER_OPTION_RO) == 0, null = strcmp(o, CORDON_HELPER_OPTION_NULL) == 0, pin = strcmp(o, CORDON_HELPER_OPTION_PIN) == 0;
		if ((ro || null || pin) && i + 1 < argc && argv[i + 1][0] == '/') {
			c.mounts[c.n_mounts].null = null;
			c.mounts[c.n_mounts].pin = pin;
			c.mounts[c.n_mounts++].path = argv[++i];
		} else if (strcmp(o, CORDON_HELPER_OPTION_HOLD) == 0 && i + 1 < argc && argv[i + 1][0] == '/')
			c.holds[c.n_holds++] = argv[++i];
		else if (strcmp(o, CORDON_HELPER_OPTION_UNIX_GRANT) == 0 && i + 1 < argc && argv[i + 1][0] == '/')
			c.unix_grants[c.n_unix_grants++] = argv[++i];
		else if (strcmp(o, CORDON_HELPER_OPTION_LANDLOCK_HANDLED) == 0 && i + 1 < argc && !c.landlock) {
			c.landlock = true;
			c.landlock_handled = parse_mask(argv[++i]);
		} else if (strcmp(o, CORDON_HELPER_OPTION_LANDLOCK_RULE) == 0 && i + 2 < argc && c.landlock && argv[i + 2][0] == '/') {
			c.rules[c.n_rules].rights = parse_mask(argv[++i]);
			c.rules[c.n_rules++].path = argv[++i];
		} else if (strcmp(o, CORDON_HELPER_OPTION_SECCOMP_FD) == 0 && i + 1 < argc)
			c.seccomp_fd = parse_fd(argv[++i]);
		else if (strcmp(o, CORDON_HELPER_OPTION_READY_FD) == 0 && i + 1 < argc)
			c.ready_fd = parse_fd(argv[++i]);
		else if (strcmp(o, CORDON_HELPER_OPTION_STDERR_FD) == 0 && i + 1 < argc)
			c.stderr_fd = parse_fd(argv[++i]);
		else if (strcmp(argv[i], "--report-fd") == 0 && i + 1 < argc)
			c.report_fd = parse_fd(argv[++i]);
		else if (strcmp(argv[i], "--report-quiet") == 0 && i + 1 < argc && argv[i + 1][0] == '/')
			c.report_quiet[c.n_report_quiet++] = argv[++i];
		else if (strcmp(argv[i], "--report-loud") == 0 && i + 1 < argc && argv[i + 1][0] == '/')
			c.report_loud[c.n_report_loud++] = argv[++i];
		else if (strcmp(argv[i], "--report-truncate") == 0)
			report.truncate = true;
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
	bool links; /* some --match (not --match-no-links): L records */
	unsigned max_depth;
	unsigned long max_dirs, n_dirs; /* --max-dirs (0: no limit); directories looked at */
	unsigned long errors;
	bool denied; /* an entry of the directory being read could not be looked at (no search permission) */
	bool ids; /* --ids: D records */
	int64_t new_links; /* --new-links SINCE: N records (0: none) */
	unsigned long n_new_links; /* N records so far */
	const char *git_entry[8]; /* --git-entry: K records */
	size_t n_git_entry;
	const char *git_read; /* --git-read */
	const char *git_needle[32]; /* --git-needle */
	size_t n_git_needle;
	char *path; /* absolute path of the directory being read */
	size_t path_len, path_cap;
	char *ents; /* stack of listed entries, in the cache's entry encoding */
	size_t ents_len, ents_cap;
	bool caching; /* build a new cache body in w */
	int64_t now; /* clock at the start of this scan, ns */
	char *w;
	size_t w_len, w_cap;
	bool w_fail;
	const unsigned char *old; /* the loaded cache's body (validated header and hash) */
	size_t old_len;
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

/*
 * --ids: the D record of the git dir just reported, `name` in dfd (""
 * for dfd itself), never followed. The birth time is part of it because
 * inode numbers are reused at once (ext4 gives a .git removed and made
 * again the number it had), a birth time is not
 * (test/integration/native/scan.test.ts, "scan --ids").
 */
static void emit_id(int dfd, const char *name)
{
	struct statx sx;
	if (!S.ids || statx(dfd, name, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH), STATX_INO | STATX_BTIME, &sx) != 0 || !(sx.stx_mask & STATX_INO))
		return;
	long long birth = sx.stx_mask & STATX_BTIME ? (long long)sx.stx_btime.tv_sec * 1000000000 + sx.stx_btime.tv_nsec : 0;
	char id[80];
	int n = snprintf(id, sizeof id, "%llu:%llu:%lld", (unsigned long long)makedev(sx.stx_dev_major, sx.stx_dev_minor), (unsigned long long)sx.stx_ino, birth);
	emit('D', id, (size_t)n);
}

/*
 * --git-read: a config file's bytes, never more than git would take here
 * (cordon's own limit, MAX_CONFIG_BYTES in git-config.ts, is the same).
 */
#define GIT_READ_MAX ((size_t)16 << 20)

/* The K letter of a regular file to judge, open as fd with st: p, m, or ? (unreadable, too large). */
static char git_judge(int fd, const struct stat *st)
{
	if (st->st_size < 0 || (size_t)st->st_size > GIT_READ_MAX)
		return '?';
	size_t len = (size_t)st->st_size, got = 0;
	char *buf = malloc(len + 1);
	if (!buf)
		return '?';
	while (got < len) {
		ssize_t k = read(fd, buf + got, len - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	char v = got == len ? 'p' : '?';
	for (size_t i = 0; i < got; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	buf[got] = '\0';
	for (size_t n = 0; v == 'p' && n < S.n_git_needle; n++)
		if (memmem(buf, got, S.git_needle[n], strlen(S.git_needle[n])))
			v = 'm';
	free(buf);
	return v;
}

/* The K letter of `name` (one or more components) in the git dir open as gfd; never follows a link. */
static char git_entry_kind(int gfd, const char *name, bool judge)
{
	char part[256];
	size_t len = strlen(name);
	if (len == 0 || len >= sizeof part)
		return '?';
	memcpy(part, name, len + 1);
	int dfd = gfd;
	char *c = part, *slash;
	char v = '?';
	/* Each component but the last must be a directory, itself (never a link). */
	while ((slash = strchr(c, '/'))) {
		*slash = '\0';
		int next = openat(dfd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		if (dfd != gfd)
			close(dfd);
		if (next < 0) {
			if (err == ENOENT)
				return '-';
			return '?'; /* a link, a file, or an error: the caller looks for itself */
		}
		dfd = next;
		c = slash + 1;
	}
	struct stat st;
	if (fstatat(dfd, c, &st, AT_SYMLINK_NOFOLLOW) != 0)
		v = errno == ENOENT ? '-' : '?';
	else if (S_ISDIR(st.st_mode))
		v = 'd';
	else if (S_ISLNK(st.st_mode))
		v = 'l';
	else if (!judge || !S_ISREG(st.st_mode))
		v = 'f';
	else {
		/* O_NONBLOCK: were it swapped for a FIFO since, the open would not hang. */
		int fd = openat(dfd, c, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat fst;
		v = '?';
		if (fd >= 0) {
			if (fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode))
				v = git_judge(fd, &fst);
			close(fd);
		}
	}
	if (dfd != gfd)
		close(dfd);
	return v;
}

/* --ids and --git-entry: the D and K records of the git dir just reported, `name` in dfd ("" for dfd itself). */
static void emit_git(int dfd, const char *name)
{
	emit_id(dfd, name);
	if (S.n_git_entry == 0)
		return;
	int gfd = name[0] ? openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dfd;
	if (gfd < 0)
		return;
	char facts[8];
	for (size_t i = 0; i < S.n_git_entry; i++)
		facts[i] = git_entry_kind(gfd, S.git_entry[i], S.git_read && strcmp(S.git_entry[i], S.git_read) == 0);
	if (gfd != dfd)
		close(gfd);
	emit('K', facts, S.n_git_entry);
}

/* Appends "/name" (n bytes) to S.path; returns the length to restore afterwards. */
static size_t path_pushn(const char *name, size_t n)
{
	size_t old = S.path_len;
	bool slash = !(old == 1 && S.path[0] == '/');
	grow(&S.path, &S.path_cap, old + n + 2);
	if (slash)
		S.path[S.path_len++] = '/';
	memcpy(S.path + S.path_len, name, n);
	S.path_len += n;
	S.path[S.path_len] = '\0';
	return old;
}

static size_t path_push(const char *name)
{
	return path_pushn(name, strlen(name));
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
	if (fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		S.denied |= errno != ENOENT;
		return DT_UNKNOWN;
	}
	return S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
}

typedef void (*visit_fn)(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx);

/* Reads the whole directory, calls visit for each entry; visit may push names
 * of subdirectories to descend into after the read (so one dents buffer does). */
/* The directory at S.path cannot be opened or read: counted, and named
 * while there are few (the check after the run compares the names, so a
 * command cannot hide a newly locked directory by unlocking another). */
#define UNREAD_LISTED 1000
static void unreadable(void)
{
	if (S.errors++ < UNREAD_LISTED)
		emit('U', S.path, S.path_len);
}

static void read_dir(int dfd, visit_fn visit, void *ctx)
{
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, S.dents, sizeof S.dents);
		if (n == 0)
			return;
		if (n < 0) {
			/* ENOENT: removed since it was opened (a placeholder cleaned up,
			 * another run's): gone, like a name that vanished, not unreadable. */
			if (errno != ENOENT)
				unreadable();
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

/* ---- the incremental cache (--cache FILE) ----
 *
 * FILE records, for every directory the main walk listed, who it is and what
 * the walk took from its listing. A later scan reuses a record without opening
 * the directory when lstat shows the same directory (dev, ino), unchanged
 * (mtime and ctime as taken just before the listing was read) and not "racy":
 * its stamps were already 2 s older than the clock when it was read, so a
 * change in the same timestamp tick as the read cannot hide behind equal stamps
 * (git's racy-index rule). Creating, removing or renaming an entry sets both
 * stamps; ctime cannot be set back from user space, so a sandboxed command that
 * forges a directory's mtime after adding a repository does not hide it.
 * .git/modules and .git/worktrees lie inside .git, whose changes no record
 * sees, and so do a bare git dir's modules/ and worktrees/: re-walked always.
 *
 * Format 2, host byte order (a per-host, per-user file):
 *   header  "cordscan" u32 2, u32 0x01020304, u32 key_len, u32 0, u64 body_len, u64 hash(body)
 *   key     u32 max_depth, 'R' ROOT '\0' per normalized ROOT, 'P' PATTERN '\0' per --match
 *   body    one record per ROOT, in order
 *   record  u32 len (of this record with its descendants; 4: nothing recorded)
 *           u64 ino, u64 dev, i64 mtime_ns, i64 ctime_ns, i64 recorded_ns (clock at that scan's start)
 *           u8 flags (N_*), u32 n_entries, u32 entries_bytes, the entries,
 *           then if N_KIDS one record per E_DIR entry, in order
 *   entry   u8 flags (E_*), u16 name_len, name: the entries that match a pattern,
 *           the subdirectories the walk descends into and (with --match) the
 *           symbolic links, in listing order
 * Replaying entries in listing order prints what a fresh walk would, in its
 * order (cordon does not depend on the order anyway). A link's target is
 * looked at again on every replay (it can change without its directory).
 * Trust: FILE must be the caller's own (owner, mode, not a symlink: checked).
 * Even so every length is checked and the body hashed: a damaged file costs a
 * full walk, never a crash or a wrong answer. A record is only ever used for a
 * directory whose identity and stamps it matches, wherever it sits in the file.
 */
/* N_UNTRUSTED: the listing was partial, or something below it was not walked (I). */
enum { N_GIT = 1, N_GITDIR = 2, N_KIDS = 4, N_UNTRUSTED = 8, N_BARE = 16 };
enum { E_MATCH = 1, E_DIR = 2, E_LINK = 4 };
#define NODE_FIXED (4 + 5 * 8 + 1 + 4 + 4)
#define NODE_FLAGS_AT 44
#define RACY_NS 2000000000LL
#define CACHE_VERSION 2
#define CACHE_BOM 0x01020304U
#define W_MAX ((size_t)512 << 20) /* a bigger cache is not written: the scan stays bounded in memory */

struct cache_head {
	char magic[8];
	uint32_t version, bom, key_len, zero;
	uint64_t body_len, sum;
};

struct rec { /* a record in the loaded body; len 0: none */
	const unsigned char *p;
	size_t len;
};

struct node {
	uint64_t ino, dev;
	int64_t mtime, ctime, rt;
	unsigned flags;
	uint32_t n_ent, n_dirs;
	const unsigned char *ents, *kids;
	size_t ents_len, kids_len;
};

static uint16_t ld16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t ld32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t ld64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Word-wise multiply-xorshift: every step is a bijection of the state, so a
 * single damaged word always changes the result; enough against accidents. */
static uint64_t body_hash(const unsigned char *p, size_t n)
{
	const uint64_t k = 0xff51afd7ed558ccdULL;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
	for (; n >= 8; p += 8, n -= 8) {
		h = (h ^ ld64(p)) * k;
		h ^= h >> 32;
	}
	for (; n; p++, n--) {
		h = (h ^ *p) * k;
		h ^= h >> 32;
	}
	return h;
}

/* Nanoseconds since the epoch; false beyond +-292 years (never trusted then). */
static bool ts_ns(struct timespec t, int64_t *ns)
{
	if (t.tv_sec > INT64_MAX / 1000000000 - 1 || t.tv_sec < INT64_MIN / 1000000000 + 1)
		return false;
	*ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
	return true;
}

/* Stamps this close to the read (or after it) may hide a change in the same tick. */
static bool racy(int64_t mtime, int64_t ctime, int64_t recorded)
{
	return recorded < INT64_MIN + RACY_NS || (mtime > ctime ? mtime : ctime) >= recorded - RACY_NS;
}

/* One entry at *p; false if it does not fit or the name is no directory entry's. */
static bool ent_next(const unsigned char **p, size_t *left, unsigned *fl, const char **name, size_t *len)
{
	if (*left < 3)
		return false;
	size_t n = ld16(*p + 1);
	const char *s = (const char *)*p + 3;
	if (n == 0 || *left - 3 < n || memchr(s, '/', n) || memchr(s, '\0', n) ||
	    (s[0] == '.' && (n == 1 || (n == 2 && s[1] == '.'))))
		return false;
	*fl = (*p)[0];
	*name = s;
	*len = n;
	*p += 3 + n;
	*left -= 3 + n;
	return true;
}

static bool rec_next(const unsigned char **p, size_t *left, struct rec *r)
{
	if (*left < 4)
		return false;
	uint32_t n = ld32(*p);
	if (n < 4 || n > *left)
		return false;
	r->p = *p;
	r->len = n == 4 ? 0 : n;
	*p += n;
	*left -= n;
	return true;
}

/* Decodes a record and checks all of it but its children's insides: a record
 * that is used is used whole, so nothing is printed twice or half. */
static bool node_parse(struct rec r, struct node *n)
{
	if (r.len < NODE_FIXED)
		return false;
	const unsigned char *p = r.p + 4;
	n->ino = ld64(p);
	n->dev = ld64(p + 8);
	n->mtime = (int64_t)ld64(p + 16);
	n->ctime = (int64_t)ld64(p + 24);
	n->rt = (int64_t)ld64(p + 32);
	n->flags = p[40];
	n->n_ent = ld32(p + 41);
	uint32_t eb = ld32(p + 45);
	if (eb > r.len - NODE_FIXED)
		return false;
	n->ents = r.p + NODE_FIXED;
	n->ents_len = eb;
	n->kids = n->ents + eb;
	n->kids_len = r.len - NODE_FIXED - eb;
	n->n_dirs = 0;
	const unsigned char *e = n->ents, *k = n->kids;
	size_t el = n->ents_len, kl = n->kids_len;
	for (uint32_t i = 0; i < n->n_ent; i++) {
		unsigned fl;
		const char *name;
		size_t len;
		struct rec c;
		if (!ent_next(&e, &el, &fl, &name, &len))
			return false;
		if (fl & E_DIR) {
			n->n_dirs++;
			if ((n->flags & N_KIDS) && !rec_next(&k, &kl, &c))
				return false;
		}
	}
	return el == 0 && kl == 0;
}

/* --new-links: a directory changed since SINCE is read again for its links
 * (a record keeps none), even where another scan recorded it since then. */
static bool node_current(const struct node *n, const struct stat *st)
{
	int64_t m, c;
	return S_ISDIR(st->st_mode) && !(n->flags & N_UNTRUSTED) && n->ino == (uint64_t)st->st_ino &&
	       n->dev == (uint64_t)st->st_dev && ts_ns(st->st_mtim, &m) && ts_ns(st->st_ctim, &c) &&
	       n->mtime == m && n->ctime == c && !racy(m, c, n->rt) &&
	       !(S.new_links && (m >= S.new_links || c >= S.new_links));
}

static void w_put(const void *p, size_t n)
{
	if (!S.caching || S.w_fail)
		return;
	if (S.w_len + n > W_MAX) {
		S.w_fail = true;
		return;
	}
	grow(&S.w, &S.w_cap, S.w_len + n);
	memcpy(S.w + S.w_len, p, n);
	S.w_len += n;
}

/* Starts a record; its length is patched in by w_end once the children are in. */
static size_t w_begin(const struct node *n, const void *ents)
{
	unsigned char h[NODE_FIXED];
	uint32_t eb = (uint32_t)n->ents_len;
	memset(h, 0, 4);
	memcpy(h + 4, &n->ino, 8);
	memcpy(h + 12, &n->dev, 8);
	memcpy(h + 20, &n->mtime, 8);
	memcpy(h + 28, &n->ctime, 8);
	memcpy(h + 36, &n->rt, 8);
	h[NODE_FLAGS_AT] = (unsigned char)n->flags;
	memcpy(h + 45, &n->n_ent, 4);
	memcpy(h + 49, &eb, 4);
	if (n->ents_len > UINT32_MAX)
		S.w_fail = true;
	size_t at = S.w_len;
	w_put(h, sizeof h);
	w_put(ents, n->ents_len);
	return at;
}

static void w_end(size_t at)
{
	if (!S.caching || S.w_fail)
		return;
	size_t n = S.w_len - at;
	uint32_t n32 = (uint32_t)n;
	memcpy(S.w + at, &n32, 4); /* below W_MAX, so below 4 GiB */
}

static void w_none(void)
{
	uint32_t n = 4;
	w_put(&n, 4);
}

/* The record begun at `at` is never to be reused (something below it was not walked). */
static void w_untrust(size_t at)
{
	if (S.caching && !S.w_fail)
		S.w[at + NODE_FLAGS_AT] |= N_UNTRUSTED;
}

/* ---- the walk ----
 *
 * An explicit stack of directories (frames), never recursion: a tree of any
 * depth costs heap, not the C stack. Its bounds, each reported as a record
 * `I\tPATH` (something below the directory PATH was not looked at) instead of
 * a crash or a silent gap:
 *   - a path of SCAN_PATH_MAX bytes or more is neither entered nor printed:
 *     nothing could name it, and it bounds the stack (a frame per name);
 *   - --max-dirs N: at most N directories are looked at;
 *   - what a listing keeps for the walk below it (names of subdirectories,
 *     matches, links) is at most ENTS_MAX bytes in all;
 *   - at most FD_WINDOW frames keep their directory open. A shallower one is
 *     closed, and re-opened when it is needed again from the nearest open
 *     ancestor, never through a symlink, and used only if it is still the
 *     directory (device, inode) that was closed: a directory renamed or
 *     replaced meanwhile is not walked (I), rather than walked wherever it
 *     now leads;
 *   - a directory that cannot be opened for want of descriptors or memory.
 * Every lookup below a ROOT starts from an open ancestor (openat2
 * RESOLVE_NO_SYMLINKS, or one O_NOFOLLOW name at a time), never from a path.
 * Proved by test/integration/native/scan.test.ts.
 */
#define SCAN_PATH_MAX 4096 /* Linux's PATH_MAX, with its NUL */
#define FD_WINDOW 64
#define ENTS_MAX ((size_t)64 << 20)
#define MAX_HOPS 8 /* re-anchor: keeps lookups short */

/* openat, never through a symlink, even for a path of several names (a name
 * listed as a directory may have been swapped for a link since). */
static int open_beneath(int anchor, const char *rel, int flags)
{
	flags |= O_NOFOLLOW | O_CLOEXEC;
	if (!strchr(rel, '/'))
		return openat(anchor, rel, flags);
	struct open_how how = { .flags = (uint64_t)flags, .resolve = RESOLVE_NO_SYMLINKS };
	int fd = (int)syscall(SYS_openat2, anchor, rel, &how, sizeof how);
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) /* EPERM: a seccomp filter that predates openat2 */
		return fd;
	/* Kernels before 5.6: one name at a time. */
	char *copy = strdup(rel), *save = NULL;
	if (!copy)
		die("strdup");
	int dfd = anchor;
	fd = -1;
	for (char *c = strtok_r(copy, "/", &save), *next; c; c = next) {
		next = strtok_r(NULL, "/", &save);
		fd = openat(dfd, c, next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC : flags);
		int err = errno;
		if (dfd != anchor)
			close(dfd);
		errno = err;
		if (fd < 0 || !next)
			break;
		dfd = fd;
	}
	free(copy);
	return fd;
}

struct kid {
	const char *name;
	size_t len;
	struct rec r;
};

static int kid_cmp(const void *a, const void *b)
{
	const struct kid *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The old records of a re-listed directory's subdirectories, found by name:
 * in listing order first (the usual case: little changed), else by search. */
struct kids {
	struct kid *v, *sorted;
	size_t n, next;
};

static void kids_load(struct kids *ks, const struct node *old)
{
	memset(ks, 0, sizeof *ks);
	if (!old || !(old->flags & N_KIDS) || !old->n_dirs)
		return;
	ks->v = malloc(old->n_dirs * sizeof *ks->v);
	if (!ks->v)
		die("malloc");
	const unsigned char *e = old->ents, *k = old->kids;
	size_t el = old->ents_len, kl = old->kids_len, len;
	unsigned fl;
	const char *name;
	while (ent_next(&e, &el, &fl, &name, &len)) {
		struct rec r = { 0 };
		if ((fl & E_DIR) && rec_next(&k, &kl, &r))
			ks->v[ks->n++] = (struct kid){ name, len, r };
	}
}

static struct rec kids_find(struct kids *ks, const char *name, size_t len)
{
	struct kid key = { name, len, { 0 } };
	struct rec none = { 0 };
	if (ks->next < ks->n && kid_cmp(&ks->v[ks->next], &key) == 0)
		return ks->v[ks->next++].r;
	if (!ks->n)
		return none;
	if (!ks->sorted) {
		ks->sorted = malloc(ks->n * sizeof *ks->sorted);
		if (!ks->sorted)
			die("malloc");
		memcpy(ks->sorted, ks->v, ks->n * sizeof *ks->v);
		qsort(ks->sorted, ks->n, sizeof *ks->sorted, kid_cmp);
	}
	struct kid *f = bsearch(&key, ks->sorted, ks->n, sizeof *ks->sorted, kid_cmp);
	return f ? f->r : none;
}

/*
 * F_MAIN: a directory of the tree, listed; F_REPLAY: one replayed from its
 * cache record; F_GITDIR: a git dir, whose modules/ and worktrees/ are looked
 * at (a .git directory, a bare git dir, a submodule git dir); F_MODULES: a
 * directory under some modules/, whose subdirectories are module names or
 * submodule git dirs (a name may hold slashes).
 */
enum { F_MAIN, F_REPLAY, F_GITDIR, F_MODULES };

struct frame {
	unsigned char kind;
	bool cut; /* its I record is printed */
	bool dead; /* renamed or replaced under the walk: nothing more below it is looked at */
	bool id; /* dev and ino are its identity (taken when the window closed fd) */
	int fd; /* the directory, open; -1: never opened, or closed by the window */
	size_t anc; /* the frame whose fd its children are looked up from: itself when it has one */
	size_t path_len; /* its path is S.path up to here */
	unsigned depth; /* below ROOT (F_MAIN, F_REPLAY) */
	unsigned step; /* F_GITDIR: modules/ next (0), worktrees/ (1), done (2) */
	uint64_t dev, ino;
	size_t ents, next, end; /* F_MAIN, F_MODULES: listed from S.ents + ents; children not walked yet in [next, end) */
	struct kids ks; /* F_MAIN: the previous record's children */
	const unsigned char *e, *k; /* F_REPLAY: the record's entries and children not walked yet */
	size_t el, kl;
	unsigned rflags; /* F_REPLAY: the record's flags */
	size_t w_at; /* F_MAIN, F_REPLAY: its record in the new cache */
};

static struct {
	struct frame *v;
	size_t n, cap;
	size_t open; /* frames with fd open */
	size_t lo; /* no frame below lo but the ROOT's has its fd open */
	size_t window; /* at most FD_WINDOW, less under a low RLIMIT_NOFILE */
} F;

static bool is_main(const struct frame *f)
{
	return f->kind == F_MAIN || f->kind == F_REPLAY;
}

/* Whether the entry `n` bytes long of the directory at S.path has a path short enough. */
static bool fits(size_t n)
{
	return S.path_len + 1 + n < SCAN_PATH_MAX;
}

/* Where, in S.path, the path of a child of frame a relative to it starts. */
static size_t rel_from(size_t a)
{
	size_t n = F.v[a].path_len;
	return n + (n != 1); /* path_pushn adds no slash after "/" */
}

/* Prints I for frame i, once; its cache record is never reused. */
static void frame_cut(size_t i)
{
	struct frame *f = &F.v[i];
	if (f->cut)
		return;
	f->cut = true;
	emit('I', S.path, f->path_len);
	if (is_main(f))
		w_untrust(f->w_at);
}

/* A frame's fd was opened: past FD_WINDOW, the lowest open one (not the ROOT's,
 * not keep) is closed, its identity kept to check it when it is re-opened. */
static void frame_fd_opened(size_t keep)
{
	if (++F.open <= F.window)
		return;
	for (size_t i = F.lo > 1 ? F.lo : 1; i < F.n; i++) {
		struct frame *f = &F.v[i];
		struct stat st;
		if (f->fd < 0 || i == keep)
			continue;
		f->id = fstat(f->fd, &st) == 0;
		f->dev = (uint64_t)st.st_dev;
		f->ino = (uint64_t)st.st_ino;
		close(f->fd);
		f->fd = -1;
		F.open--;
		F.lo = i + 1;
		return;
	}
}

/* Frame i's directory (i has or had an fd), re-opened if the window closed it:
 * from the nearest open ancestor, never through a symlink, and only if it is
 * still the same directory. Else -1, and frame i and all above it are dead. */
static int frame_fd(size_t i)
{
	struct frame *f = &F.v[i];
	if (f->fd >= 0 || f->dead)
		return f->fd;
	size_t j = i;
	while (j > 0 && F.v[--j].fd < 0)
		;
	int fd = -1;
	struct stat st;
	if (f->id && F.v[j].fd >= 0) {
		size_t from = rel_from(j);
		char *rel = strndup(S.path + from, f->path_len - from);
		if (!rel)
			die("strndup");
		fd = open_beneath(F.v[j].fd, rel, O_PATH | O_DIRECTORY);
		free(rel);
	}
	if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == f->dev && (uint64_t)st.st_ino == f->ino) {
		f->fd = fd;
		if (F.lo > i)
			F.lo = i;
		frame_fd_opened(i);
		return fd;
	}
	if (fd >= 0)
		close(fd);
	frame_cut(i);
	for (size_t k = i; k < F.n; k++)
		F.v[k].dead = true;
	return -1;
}

static size_t frame_push(unsigned kind, int fd, unsigned depth)
{
	if (F.n == F.cap) {
		F.cap = F.cap ? 2 * F.cap : 64;
		F.v = realloc(F.v, F.cap * sizeof *F.v);
		if (!F.v)
			die("realloc");
	}
	size_t i = F.n++;
	F.v[i] = (struct frame){ .kind = (unsigned char)kind, .fd = fd, .anc = i, .path_len = S.path_len, .depth = depth };
	if (fd >= 0)
		frame_fd_opened(i);
	return i;
}

static void frame_pop(void)
{
	struct frame *f = &F.v[--F.n];
	if (is_main(f))
		w_end(f->w_at);
	if (f->kind == F_MAIN) {
		free(f->ks.v);
		free(f->ks.sorted);
	}
	if (f->kind == F_MAIN || f->kind == F_MODULES)
		S.ents_len = f->ents;
	if (f->fd >= 0) {
		close(f->fd);
		F.open--;
	}
	if (F.lo > F.n)
		F.lo = F.n;
	if (F.n)
		path_pop(F.v[F.n - 1].path_len);
}

/* The next child of f to walk: its name, and (F_MAIN, F_REPLAY) its old record. */
static bool frame_next(struct frame *f, const char **name, size_t *len, struct rec *old)
{
	unsigned fl;
	switch (f->kind) {
	case F_MAIN:
	case F_MODULES:
		while (f->next < f->end) {
			const unsigned char *e = (const unsigned char *)S.ents + f->next;
			fl = e[0];
			*len = ld16(e + 1);
			*name = (const char *)e + 3;
			f->next += 3 + *len;
			if (fl & E_DIR) {
				if (f->kind == F_MAIN)
					*old = kids_find(&f->ks, *name, *len);
				return true;
			}
		}
		return false;
	case F_REPLAY:
		while (ent_next(&f->e, &f->el, &fl, name, len)) {
			if (!(fl & E_DIR))
				continue;
			if (f->rflags & N_KIDS)
				rec_next(&f->k, &f->kl, old); /* node_parse checked there is one */
			return true;
		}
		return false;
	default:
		if (f->step >= 2)
			return false;
		*name = f->step++ ? "worktrees" : "modules";
		*len = strlen(*name);
		return true;
	}
}

/* A child of frame parent could not be opened. */
static void open_failed(size_t parent, int err)
{
	if (err == EMFILE || err == ENFILE || err == ENOMEM)
		frame_cut(parent);
	else if (err != ENOENT && err != ENOTDIR && err != ELOOP)
		unreadable(); /* vanished or replaced by a non-directory mid-walk is not an error */
}

/* The git dir of frame owner (sub NULL: owner itself; ".git": its .git) is walked for modules/ and worktrees/. */
static void push_gitdir(size_t owner, const char *sub)
{
	if (sub) {
		if (!fits(strlen(sub))) {
			frame_cut(owner);
			return;
		}
		path_push(sub);
	}
	size_t g = frame_push(F_GITDIR, -1, F.v[owner].depth);
	F.v[g].anc = owner; /* owner has an fd: listed, or replayed with one for this */
}

/* ---- .git/modules and .git/worktrees (and a bare or submodule git dir's) ---- */

struct nsstate {
	bool head, config, objects, refs, commondir, links, over;
};

static bool ent_push(unsigned fl, const char *name);

static void visit_ns(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx)
{
	struct nsstate *g = ctx;
	(void)dfd;
	if (strcmp(d->d_name, "HEAD") == 0)
		g->head |= type != DT_DIR;
	else if (strcmp(d->d_name, "config") == 0)
		g->config = true;
	else if (strcmp(d->d_name, "objects") == 0)
		g->objects = true;
	else if (strcmp(d->d_name, "refs") == 0)
		g->refs = true;
	else if (strcmp(d->d_name, "commondir") == 0)
		g->commondir |= type != DT_DIR;
	g->links |= type == DT_LNK;
	if (type == DT_DIR && (!fits(strlen(d->d_name)) || !ent_push(E_DIR, d->d_name)))
		g->over = true;
}

/* A record of kind for the entry d of the directory at S.path (its identity too, with id); *over if its path does not fit. */
static void emit_entry(char kind, int dfd, const struct linux_dirent64 *d, bool id, bool *over)
{
	size_t n = strlen(d->d_name);
	if (!fits(n)) {
		*over = true;
		return;
	}
	size_t o = path_pushn(d->d_name, n);
	emit(kind, S.path, S.path_len);
	if (id)
		emit_id(dfd, d->d_name);
	path_pop(o);
}

/* A link where a module's git dir goes (git follows it there): a Y record,
 * with the link's own identity, so that one the command makes is moved
 * aside after the run (the scan never follows it). */
static void visit_ns_link(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx)
{
	if (type == DT_LNK)
		emit_entry('Y', dfd, d, true, ctx);
}

/* A directory under modules/ (container: modules/ itself), open as fd: a
 * submodule git dir, or a path component of module names. A git dir is what
 * git takes for one (HEAD, and objects/ and refs/ here or where `commondir`
 * points: a `commondir` alone sends git's config and hooks elsewhere) or what
 * `git submodule` makes (HEAD and config); a HEAD that is a directory is a
 * module's name. */
static void list_modules(int fd, bool container)
{
	struct nsstate g = { 0 };
	size_t mark = S.ents_len;
	S.n_dirs++;
	read_dir(fd, visit_ns, &g);
	if (!container && g.head && (g.config || g.commondir || (g.objects && g.refs))) {
		emit('S', S.path, S.path_len);
		emit_git(fd, "");
		S.ents_len = mark; /* a git dir's insides are git's: only its modules/ and worktrees/ matter */
		frame_push(F_GITDIR, fd, 0);
		return;
	}
	if (g.links) {
		/* Listed again, rarely: only now is it known to hold module names, not to be a git dir. */
		bool over = false;
		if (lseek(fd, 0, SEEK_SET) == 0)
			read_dir(fd, visit_ns_link, &over);
		else
			over = true;
		g.over |= over;
	}
	size_t i = frame_push(F_MODULES, fd, 0);
	F.v[i].ents = F.v[i].next = mark;
	F.v[i].end = S.ents_len;
	if (g.over)
		frame_cut(i);
}

static void visit_worktrees(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx)
{
	if (type == DT_DIR)
		emit_entry('W', dfd, d, false, ctx);
}

/* The child of F_GITDIR frame g at S.path: its modules/ or its worktrees/. */
static void enter_gitdir_child(size_t g)
{
	size_t a = F.v[g].anc;
	int afd = frame_fd(a);
	if (afd < 0)
		return;
	int fd = open_beneath(afd, S.path + rel_from(a), O_RDONLY | O_DIRECTORY);
	struct stat ls;
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) && fstatat(afd, S.path + rel_from(a), &ls, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(ls.st_mode)) {
		/* modules/ or worktrees/ itself a link: git follows it to git dirs the scan never sees (a Y record, as a link under modules/). */
		emit('Y', S.path, S.path_len);
		emit_id(afd, S.path + rel_from(a));
		return;
	}
	if (fd < 0) {
		open_failed(g, errno);
		return;
	}
	if (F.v[g].step == 1) {
		list_modules(fd, true);
		return;
	}
	bool over = false;
	S.n_dirs++;
	read_dir(fd, visit_worktrees, &over);
	close(fd);
	if (over)
		frame_cut(g);
}

/* The child of F_MODULES frame parent at S.path. */
static void enter_module(size_t parent)
{
	int pfd = frame_fd(parent);
	if (pfd < 0)
		return;
	int fd = open_beneath(pfd, S.path + rel_from(parent), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		open_failed(parent, errno);
	else
		list_modules(fd, false);
}

/* ---- the main walk ---- */

struct dirstate {
	bool git, git_dir; /* an entry .git; a .git directory */
	bool head, objects, refs, commondir; /* what makes a directory a git dir */
	bool over; /* something was left out (I) */
	uint32_t n_ent;
};

/* Keeps an entry for the walk below; false past ENTS_MAX. */
static bool ent_push(unsigned fl, const char *name)
{
	size_t n = strlen(name);
	uint16_t n16 = (uint16_t)n; /* d_reclen is 16 bits: a name is shorter */
	if (S.ents_len + 3 + n > ENTS_MAX)
		return false;
	grow(&S.ents, &S.ents_cap, S.ents_len + 3 + n);
	S.ents[S.ents_len] = (char)fl;
	memcpy(S.ents + S.ents_len + 1, &n16, 2);
	memcpy(S.ents + S.ents_len + 3, name, n);
	S.ents_len += 3 + n;
	return true;
}

/* At most this many N records: past them, the directory is one the scan could not look at whole (an I record). */
#define NEW_LINKS_MAX 200000

/* --new-links: the link `name` in dfd, if it changed at or after SINCE (an N record); `over` past NEW_LINKS_MAX. */
static void new_link_check(int dfd, const char *name, bool *over)
{
	struct stat st;
	int64_t changed;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		S.denied |= errno != ENOENT;
		return;
	}
	if (!S_ISLNK(st.st_mode) || !ts_ns(st.st_ctim, &changed) || changed < S.new_links)
		return;
	size_t len = strlen(name);
	if (!fits(len))
		return; /* the listing is cut there anyway (an I record) */
	if (++S.n_new_links > NEW_LINKS_MAX) {
		*over = true;
		return;
	}
	size_t o = path_pushn(name, len);
	emit('N', S.path, S.path_len);
	path_pop(o);
}

static void visit_main(int dfd, const struct linux_dirent64 *d, unsigned type, void *ctx)
{
	struct dirstate *s = ctx;
	const char *name = d->d_name;
	unsigned fl = 0;
	if (S.n_match && matches(name))
		fl = E_MATCH;
	if (strcmp(name, ".git") == 0) {
		s->git = true; /* directory, gitfile or even a symlink: a work tree */
		s->git_dir = type == DT_DIR;
	} else if (type == DT_DIR) {
		fl |= E_DIR;
	}
	/* git's is_git_directory(): HEAD, and objects/ and refs/ here or in the
	 * directory `commondir` names; git follows links for all of them. */
	if (strcmp(name, "HEAD") == 0)
		s->head |= type != DT_DIR;
	else if (strcmp(name, "objects") == 0)
		s->objects = true;
	else if (strcmp(name, "refs") == 0)
		s->refs = true;
	else if (strcmp(name, "commondir") == 0)
		s->commondir |= type != DT_DIR;
	if (type == DT_LNK && S.links && strcmp(name, ".git") != 0)
		fl |= E_LINK; /* a .git link redirects git: the policy protects the link itself */
	if (type == DT_LNK && S.new_links && strcmp(name, ".git") != 0)
		new_link_check(dfd, name, &s->over);
	if (!fl)
		return;
	size_t n = strlen(name);
	if (!fits(n)) {
		s->over = true;
		return;
	}
	if (fl & (E_MATCH | E_LINK)) {
		struct stat st;
		size_t o = path_pushn(name, n);
		if (fl & E_MATCH)
			emit('M', S.path, S.path_len);
		if ((fl & E_LINK) && fstatat(dfd, name, &st, 0) == 0 && S_ISDIR(st.st_mode))
			emit('L', S.path, S.path_len);
		else if ((fl & E_LINK) && errno == EACCES && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			S.denied = true; /* the link itself cannot be looked at (where it leads may be closed: that is not this directory's) */
		path_pop(o);
	}
	if (!ent_push(fl, name)) {
		s->over = true;
		return;
	}
	s->n_ent++;
}

/* A bare git dir's objects/ are git's (and many); its modules/ and worktrees/
 * are walked as a git dir's (S, W records). */
static void unlist_git_internals(size_t mark)
{
	for (size_t off = mark; off < S.ents_len;) {
		unsigned char *e = (unsigned char *)S.ents + off;
		size_t len = ld16(e + 1);
		const char *name = (const char *)e + 3;
		if ((len == 7 && (memcmp(name, "objects", 7) == 0 || memcmp(name, "modules", 7) == 0)) ||
		    (len == 9 && memcmp(name, "worktrees", 9) == 0))
			e[0] &= (unsigned char)~E_DIR;
		off += 3 + len;
	}
}

/* Lists the directory open as fd (as an uncached scan does), records it, and
 * pushes its frame; old: its previous record, whose children may still be reusable. */
static void list_dir(int fd, unsigned depth, const struct node *old)
{
	struct stat st;
	struct node n = { 0 };
	/* Stamps before the listing: a change during the read makes them stale, never the listing. */
	bool trusted = S.caching && fstat(fd, &st) == 0 && ts_ns(st.st_mtim, &n.mtime) && ts_ns(st.st_ctim, &n.ctime);
	unsigned long errors = S.errors;
	struct dirstate s = { 0 };
	size_t mark = S.ents_len;
	S.n_dirs++;
	S.denied = false;
	read_dir(fd, visit_main, &s);
	/* Listed, but not searchable (read without search: chmod 600), so an
	 * entry could not be looked at (a link there is not seen): the directory
	 * counts as one that could not be read (U), whatever this scan asked
	 * for, so the scans before and after a run judge it alike. */
	struct stat dot;
	if (!S.denied && fstatat(fd, ".", &dot, 0) != 0 && errno == EACCES)
		S.denied = true;
	if (S.denied)
		unreadable();
	if (S.errors != errors || s.over)
		trusted = false; /* a partial listing: keep it for its children, never reuse it */
	bool bare = s.head && ((s.objects && s.refs) || s.commondir);
	if (bare)
		unlist_git_internals(mark);
	if (s.git) {
		emit('G', S.path, S.path_len);
		emit_git(fd, ".git");
	}
	if (bare) {
		emit('B', S.path, S.path_len);
		emit_git(fd, "");
	}

	size_t at = 0;
	if (S.caching) {
		n.flags = (s.git ? N_GIT : 0) | (s.git_dir ? N_GITDIR : 0) | (bare ? N_BARE : 0) |
			  (depth < S.max_depth ? N_KIDS : 0) | (trusted ? 0 : N_UNTRUSTED);
		if (trusted) {
			n.ino = (uint64_t)st.st_ino;
			n.dev = (uint64_t)st.st_dev;
		} else {
			n.mtime = n.ctime = 0;
		}
		n.rt = S.now;
		n.n_ent = s.n_ent;
		n.ents_len = S.ents_len - mark;
		/* Unchanged and still racy: keep the older stamp (stricter), so that a
		 * directory with a future mtime does not rewrite the file every time. */
		if (old && trusted && racy(n.mtime, n.ctime, S.now) && !(old->flags & N_UNTRUSTED) &&
		    old->ino == n.ino && old->dev == n.dev && old->mtime == n.mtime && old->ctime == n.ctime &&
		    (old->flags & ~N_KIDS) == (n.flags & ~N_KIDS) && old->ents_len == n.ents_len &&
		    memcmp(old->ents, S.ents + mark, n.ents_len) == 0)
			n.rt = old->rt;
		at = w_begin(&n, S.ents + mark);
	}
	size_t i = frame_push(F_MAIN, fd, depth);
	struct frame *f = &F.v[i];
	f->ents = f->next = mark;
	f->end = depth < S.max_depth ? S.ents_len : mark;
	f->w_at = at;
	if (depth < S.max_depth)
		kids_load(&f->ks, old);
	if (s.over)
		frame_cut(i);
	/* Both a git dir and a work tree: the .git frame goes on top (its path extends this one). */
	if (bare)
		push_gitdir(i, NULL);
	if (s.git_dir)
		push_gitdir(i, ".git");
}

/* Whether the link at S.path, an entry of frame i's directory, leads to a directory now. */
static void link_check(size_t i)
{
	size_t a = F.v[i].anc;
	int afd = frame_fd(a);
	struct stat st;
	if (afd >= 0 && fstatat(afd, S.path + rel_from(a), &st, 0) == 0 && S_ISDIR(st.st_mode))
		emit('L', S.path, S.path_len);
}

/* A recorded directory, unchanged: prints and pushes its frame from the record
 * alone. fd: an O_PATH descriptor of it when one was needed (for its git dir,
 * its .git's identity, or as the children's new anchor), else -1 (then anc is
 * where lookups start). */
static void replay(size_t anc, int fd, unsigned depth, const struct node *n)
{
	struct node w = *n;
	w.flags = (n->flags & (N_GIT | N_GITDIR | N_BARE)) | (depth < S.max_depth ? N_KIDS : 0);
	size_t at = w_begin(&w, n->ents);
	S.n_dirs++;
	size_t i = frame_push(F_REPLAY, fd, depth);
	struct frame *f = &F.v[i];
	if (fd < 0)
		f->anc = anc;
	f->w_at = at;
	f->rflags = n->flags;
	if (depth < S.max_depth) {
		f->e = n->ents;
		f->el = n->ents_len;
		f->k = n->kids;
		f->kl = n->kids_len;
	}
	const unsigned char *e = n->ents;
	size_t el = n->ents_len, len;
	unsigned fl;
	const char *name;
	while (ent_next(&e, &el, &fl, &name, &len)) {
		if (!(fl & (E_MATCH | E_LINK)))
			continue;
		if (!fits(len)) {
			frame_cut(i);
			continue;
		}
		size_t o = path_pushn(name, len);
		if (fl & E_MATCH)
			emit('M', S.path, S.path_len);
		if (fl & E_LINK)
			link_check(i);
		path_pop(o);
	}
	if (n->flags & N_GIT) {
		emit('G', S.path, S.path_len);
		emit_git(fd, ".git");
	}
	if (n->flags & N_BARE) {
		emit('B', S.path, S.path_len);
		emit_git(fd, "");
		push_gitdir(i, NULL);
	}
	if (n->flags & N_GITDIR)
		push_gitdir(i, ".git");
}

/* The child of main frame parent at S.path: replayed from its record if that
 * still holds, else listed as an uncached scan would. Writes exactly one record. */
static void enter_main(size_t parent, struct rec old)
{
	unsigned depth = F.v[parent].depth + 1;
	size_t anc = F.v[parent].anc;
	size_t from = rel_from(anc);
	unsigned hops = depth - F.v[anc].depth;
	struct node n;
	bool have = old.len && node_parse(old, &n);
	if (have && !(n.flags & N_UNTRUSTED)) {
		/* Mostly one stat. An O_PATH fd, checked by its own fstat, where the
		 * replay needs one: for its git dir, its .git's identity (--ids: looked
		 * up in the very directory checked), and as a new anchor. */
		bool kids = depth < S.max_depth && n.n_dirs;
		bool need_fd = (n.flags & (N_GITDIR | N_BARE | (S.ids || S.n_git_entry ? N_GIT : 0))) || (kids && (hops >= MAX_HOPS || S.path_len - from > 1024));
		int afd = frame_fd(anc), fd = -1, r = -1;
		struct stat st;
		if (afd < 0) {
			w_none();
			return;
		}
		if (need_fd) {
			fd = open_beneath(afd, S.path + from, O_PATH | O_DIRECTORY);
			r = fd < 0 ? -1 : fstat(fd, &st);
		} else {
			/* Several names may be looked up here; a link swapped in for one of
			 * them since it was checked would still have to lead to the very
			 * directory (dev, ino, stamps) recorded: then its record is right. */
			r = fstatat(afd, S.path + from, &st, AT_SYMLINK_NOFOLLOW);
		}
		if (r == 0 && node_current(&n, &st)) {
			replay(anc, fd, depth, &n);
			return;
		}
		if (fd >= 0)
			close(fd);
	}
	int afd = frame_fd(anc);
	int fd = afd < 0 ? -1 : open_beneath(afd, S.path + from, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		if (afd >= 0)
			open_failed(parent, errno);
		w_none();
		return;
	}
	list_dir(fd, depth, have ? &n : NULL);
}

/* A ROOT (S.path: its normalized path): opened as given, followed if a
 * symlink, as the uncached scan always did. */
static void enter_root(const char *root, struct rec old)
{
	struct node n;
	bool have = old.len && node_parse(old, &n);
	if (have && !(n.flags & N_UNTRUSTED)) {
		struct stat st;
		int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0 && node_current(&n, &st)) {
			replay(0, fd, 0, &n);
			return;
		}
		if (fd >= 0)
			close(fd);
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			emit('I', S.path, S.path_len);
		else if (errno != ENOENT && errno != ENOTDIR)
			unreadable();
		w_none();
		return;
	}
	list_dir(fd, 0, have ? &n : NULL);
}

/* Walks until the stack is empty: each step takes the top frame's next child. */
static void walk(void)
{
	while (F.n) {
		size_t i = F.n - 1;
		struct frame *f = &F.v[i];
		const char *name;
		size_t len;
		struct rec old = { 0 };
		if (!frame_next(f, &name, &len, &old)) {
			frame_pop();
			continue;
		}
		bool main = is_main(f);
		if (f->dead || !fits(len) || (S.max_dirs && S.n_dirs >= S.max_dirs)) {
			if (!f->dead)
				frame_cut(i);
			if (main)
				w_none();
			continue;
		}
		path_pushn(name, len);
		if (main)
			enter_main(i, old);
		else if (f->kind == F_GITDIR)
			enter_gitdir_child(i);
		else
			enter_module(i);
		if (F.n == i + 1)
			path_pop(F.v[i].path_len);
	}
}

/* ROOT, absolute, "a//b/./" spelled "a/b": how records name it. */
static char *root_path(const char *root)
{
	char *p = NULL;
	size_t cap = 0;
	S.path_len = 0;
	grow(&S.path, &S.path_cap, 2);
	strcpy(S.path, "/");
	S.path_len = 1;
	if (root[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (!cwd)
			die("getcwd");
		for (char *save = NULL, *c = strtok_r(cwd, "/", &save); c; c = strtok_r(NULL, "/", &save))
			path_push(c);
		free(cwd);
	}
	char *copy = strdup(root);
	if (!copy)
		die("strdup");
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
		if (strcmp(c, ".") != 0)
			path_push(c);
	free(copy);
	grow(&p, &cap, S.path_len + 1);
	memcpy(p, S.path, S.path_len + 1);
	return p;
}

/* ---- the cache file ---- */

static struct {
	const char *file, *base;
	int dfd;
	char *key;
	size_t key_len;
	char *buf; /* the file as read */
} C = { .dfd = -1 };

static void cache_warn(const char *why)
{
	fprintf(stderr, "cordon: scan cache %s not used: %s\n", C.file, why);
}

static bool private_to_caller(const struct stat *st, const char *what)
{
	if (st->st_uid == geteuid() && !(st->st_mode & 022))
		return true;
	char why[160];
	snprintf(why, sizeof why, "%s is owned by uid %u with mode %04o; expected owner uid %u and no group/other write",
		 what, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777), (unsigned)geteuid());
	cache_warn(why);
	return false;
}

static void cache_key(char **roots, size_t n_roots)
{
	size_t len = 4;
	for (size_t i = 0; i < n_roots; i++)
		len += strlen(roots[i]) + 2;
	for (size_t i = 0; i < S.n_match; i++)
		len += strlen(S.match[i]) + 2;
	if (S.n_match && !S.links)
		len += 2; /* 'N': the same patterns without L records are another scan */
	char *k = malloc(len), *p = k;
	if (!k)
		die("malloc");
	uint32_t d = S.max_depth;
	memcpy(p, &d, 4);
	p += 4;
	for (size_t i = 0; i < n_roots; i++)
		p += sprintf(p, "R%s", roots[i]) + 1;
	for (size_t i = 0; i < S.n_match; i++)
		p += sprintf(p, "P%s", S.match[i]) + 1;
	if (S.n_match && !S.links)
		p += sprintf(p, "N") + 1;
	C.key = k;
	C.key_len = len;
}

/* Sets S.old when the file is intact and made for this very scan. */
static void cache_check(const char *buf, size_t len, size_t n_roots)
{
	struct cache_head h;
	if (len < sizeof h)
		return;
	memcpy(&h, buf, sizeof h);
	if (memcmp(h.magic, "cordscan", 8) != 0 || h.version != CACHE_VERSION || h.bom != CACHE_BOM ||
	    h.key_len != C.key_len || h.zero != 0 || len - sizeof h < C.key_len ||
	    h.body_len != len - sizeof h - C.key_len || memcmp(buf + sizeof h, C.key, C.key_len) != 0)
		return;
	const unsigned char *body = (const unsigned char *)buf + sizeof h + C.key_len, *p = body;
	if (body_hash(body, h.body_len) != h.sum)
		return;
	size_t left = h.body_len;
	struct rec r;
	for (size_t i = 0; i < n_roots; i++)
		if (!rec_next(&p, &left, &r))
			return;
	if (left)
		return;
	S.old = body;
	S.old_len = h.body_len;
}

/* Turns caching on unless FILE or its directory is not the caller's private
 * property (a file another user can write could steer the walk's output). */
static void cache_open(size_t n_roots)
{
	const char *slash = strrchr(C.file, '/');
	char *dir = slash ? strndup(C.file, slash == C.file ? 1 : (size_t)(slash - C.file)) : strdup(".");
	struct stat st;
	if (!dir)
		die("strdup");
	C.base = slash ? slash + 1 : C.file;
	if (!*C.base) {
		cache_warn("no file name");
		free(dir);
		return;
	}
	C.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (C.dfd < 0 || fstat(C.dfd, &st) < 0) {
		cache_warn(strerror(errno));
		return;
	}
	if (!private_to_caller(&st, "its directory"))
		return;
	int fd = openat(C.dfd, C.base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			S.caching = true;
		else
			cache_warn(errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cache_warn("not a regular file");
		close(fd);
		return;
	}
	if (!private_to_caller(&st, "it")) {
		close(fd);
		return;
	}
	S.caching = true;
	size_t size = st.st_size > (1L << 30) ? 0 : (size_t)st.st_size, len = 0; /* > 1 GiB: start over */
	C.buf = malloc(size ? size : 1);
	if (!C.buf)
		die("malloc");
	while (len < size) {
		ssize_t n = read(fd, C.buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == size)
		cache_check(C.buf, len, n_roots);
}

/* Atomically: readers see the old file or the new one, never a part. */
static void cache_store(void)
{
	size_t tl = strlen(C.base) + 32;
	char *tmp = malloc(tl);
	if (!tmp)
		die("malloc");
	snprintf(tmp, tl, "%s.tmp.%ld", C.base, (long)getpid());
	int fd = openat(C.dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST && unlinkat(C.dfd, tmp, 0) == 0) /* left by a crashed run with our pid */
		fd = openat(C.dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cache_warn(strerror(errno));
		free(tmp);
		return;
	}
	struct cache_head h = { .version = CACHE_VERSION, .bom = CACHE_BOM, .key_len = (uint32_t)C.key_len };
	memcpy(h.magic, "cordscan", 8);
	h.body_len = S.w_len;
	h.sum = body_hash((const unsigned char *)S.w, S.w_len);
	bool ok = write_all(fd, &h, sizeof h) && write_all(fd, C.key, C.key_len) && write_all(fd, S.w, S.w_len) &&
		  fchmod(fd, 0600) == 0;
	int err = errno;
	if (close(fd) < 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && renameat(C.dfd, tmp, C.dfd, C.base) < 0) {
		ok = false;
		err = errno;
	}
	if (!ok) {
		unlinkat(C.dfd, tmp, 0);
		cache_warn(strerror(err));
	}
	free(tmp);
}

/*
 * What comes on fd: the length of what follows, in decimal, and a NUL, then
 * that many bytes, read whole; NULL (with *len 0) when fd ends before its
 * first byte. A length is what lets the reader begin at once: Node closes a
 * pipe only once its event loop turns, which it does not while cordon
 * cleans up synchronously. Anything else (no digits, a length the fd does
 * not deliver, beyond 1 GiB) fails with `what` named.
 */
static char *read_counted(int fd, const char *what, size_t *len)
{
	char head[24];
	size_t h = 0;
	*len = 0;
	for (;;) {
		ssize_t r = read(fd, head + h, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(what);
		if (r == 0 && h == 0)
			return NULL;
		if (r == 0 || (head[h] != 0 && (head[h] < '0' || head[h] > '9')) || (head[h] == 0 && h == 0) || h + 1 == sizeof head) {
			fprintf(stderr, "cordon: %s: no length before them\n", what);
			exit(EXIT_HELPER);
		}
		if (head[h++] == 0)
			break;
	}
	unsigned long long want = strtoull(head, NULL, 10);
	if (want > (1ULL << 30)) {
		fprintf(stderr, "cordon: %s: %llu bytes is too long\n", what, want);
		exit(EXIT_HELPER);
	}
	char *buf = malloc((size_t)want + 1);
	if (!buf)
		die("malloc");
	for (size_t got = 0; got < want;) {
		ssize_t r = read(fd, buf + got, (size_t)want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(what);
		if (r == 0) {
			fprintf(stderr, "cordon: %s: %zu of %llu bytes came\n", what, got, want);
			exit(EXIT_HELPER);
		}
		got += (size_t)r;
	}
	*len = (size_t)want;
	return buf;
}

/* ------------------------------------------------- after cordon's death -- */

/*
 * The scan after the run waits in a process of its own (scan --wait-stdin,
 * with-scan --then) for cordon's word, on a pipe only cordon writes:
 * messages as read_counted reads them. An empty one: nothing to do. "G"
 * (--wait-stdin) or the scan's arguments (--then): scan now. And, once the
 * run's journal exists and before its command may start, "W" NUL PID NUL N
 * NUL then N arguments and the environment, each NUL-terminated: the
 * sandbox's PID 1 and the command that finishes a run from its journal
 * (`cordon recover`; program, arguments and environment all cordon's
 * choice). This process is then the one of cordon's that outlives a cordon
 * killed with SIGKILL (a process group of its own, no parent-death signal):
 * should the pipe end with neither a scan nor an empty message, cordon died
 * mid-run, and this process waits until the sandbox is gone (a pidfd of its
 * PID 1 reads as exited only once every process of that PID namespace is),
 * then becomes that command in a session of its own and in `/`, its stdout
 * and stderr on SAY (--say: where the command wrote, when that was cordon's own
 * stderr) or /dev/null. A sandbox not gone within WATCH_GONE_MS is left to
 * the next cordon run (journal.ts).
 */
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#define WATCH_GONE_MS 30000

static struct {
	int pidfd; /* -1: not watching; -2: PID 1 already gone when the pid came */
	char **argv, **envp;
} WATCH = { -1, NULL, NULL };

static void watch_from(char *buf, size_t len)
{
	if (WATCH.pidfd != -1 || len == 0 || buf[len - 1] != '\0')
		die("the watch message: twice, or not NUL-terminated");
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	char **f = calloc(n + 1, sizeof *f);
	if (!f)
		die("calloc");
	for (size_t i = 0, k = 0; i < len; k++) {
		f[k] = buf + i;
		i += strlen(buf + i) + 1;
	}
	char *end;
	errno = 0;
	long pid = n >= 3 ? strtol(f[1], &end, 10) : 0;
	unsigned long argc = n >= 3 ? strtoul(f[2], &end, 10) : 0;
	if (n < 4 || pid <= 1 || argc == 0 || argc > n - 3 || f[3][0] != '/') {
		fputs("cordon: the watch message: malformed\n", stderr);
		exit(EXIT_HELPER);
	}
	int fd = (int)syscall(__NR_pidfd_open, (pid_t)pid, 0);
	if (fd < 0 && errno != ESRCH)
		die("pidfd_open");
	WATCH.pidfd = fd < 0 ? -2 : fd;
	/* argv and the environment, each NULL-terminated, in place: f[3..3+argc) then the rest. */
	char **args = calloc(argc + 1, sizeof *args);
	if (!args)
		die("calloc");
	memcpy(args, f + 3, argc * sizeof *args);
	WATCH.argv = args;
	WATCH.envp = f + 3 + argc;
}

/* cordon died mid-run: once the sandbox is gone, become the command that finishes the run. */
__attribute__((noreturn)) static void after_death(int say)
{
	if (WATCH.pidfd >= 0) {
		struct pollfd p = { .fd = WATCH.pidfd, .events = POLLIN };
		int r;
		while ((r = poll(&p, 1, WATCH_GONE_MS)) < 0 && errno == EINTR)
			;
		if (r <= 0)
			_exit(0);
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int out = say >= 0 ? say : null;
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(EXIT_HELPER);
	/* Out of the writable path the command could have renamed or removed; a session of
	 * its own where not one already (deferScan's process leads one: Node's `detached`). */
	if (syscall(__NR_close_range, 3U, ~0U, 0U) != 0 || chdir("/") != 0)
		_exit(EXIT_HELPER);
	if (getsid(0) != getpid() && setsid() < 0)
		_exit(EXIT_HELPER);
	execve(WATCH.argv[0], WATCH.argv, WATCH.envp);
	_exit(127);
}

/*
 * Waits on fd for cordon's word (above): the scan's message (*len > 0), or
 * NULL when there is nothing to do; a pipe that ends after a watch message
 * and before any other ends in after_death(say).
 */
static char *await_word(int fd, int say, size_t *len)
{
	for (;;) {
		char *buf = read_counted(fd, "cordon's word to the scan after the run", len);
		if (!buf) {
			if (WATCH.pidfd != -1)
				after_death(say);
			return NULL;
		}
		if (*len == 0) {
			free(buf);
			return NULL;
		}
		if (*len >= 2 && buf[0] == CORDON_SCAN_WORD_WATCH[0] && buf[1] == '\0') {
			watch_from(buf, *len);
			continue;
		}
		return buf;
	}
}

static int cmd_scan(int argc, char **argv)
{
	S.match = calloc((size_t)argc + 1, sizeof *S.match);
	S.literal = calloc((size_t)argc + 1, sizeof *S.literal);
	if (!S.match || !S.literal)
		die("calloc");
	S.max_depth = ~0U;
	bool wait_stdin = false;
	int say = -1;
	int i = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if ((strcmp(argv[i], "--match") == 0 || strcmp(argv[i], "--match-no-links") == 0) && i + 1 < argc) {
			S.links |= argv[i][7] == '\0';
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
		} else if (strcmp(argv[i], "--max-dirs") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			unsigned long n = strtoul(argv[++i], &end, 10);
			if (errno || *end || argv[i][0] == '\0' || argv[i][0] == '-' || n == 0)
				usage();
			S.max_dirs = n;
		} else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc && !C.file && argv[i + 1][0]) {
			C.file = argv[++i];
		} else if (strcmp(argv[i], "--wait-stdin") == 0) {
			wait_stdin = true;
		} else if (strcmp(argv[i], "--say") == 0 && i + 1 < argc) {
			say = parse_fd(argv[++i]);
		} else if (strcmp(argv[i], "--ids") == 0) {
			S.ids = true;
		} else if (strcmp(argv[i], "--new-links") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(argv[++i], &end, 10);
			if (errno || *end || argv[i][0] < '1' || argv[i][0] > '9' || n > INT64_MAX)
				usage();
			S.new_links = (int64_t)n;
		} else if (strcmp(argv[i], "--git-entry") == 0 && i + 1 < argc && argv[i + 1][0] && S.n_git_entry < sizeof S.git_entry / sizeof *S.git_entry) {
			S.git_entry[S.n_git_entry++] = argv[++i];
		} else if (strcmp(argv[i], "--git-read") == 0 && i + 1 < argc && argv[i + 1][0] && !S.git_read) {
			S.git_read = argv[++i];
		} else if (strcmp(argv[i], "--git-needle") == 0 && i + 1 < argc && argv[i + 1][0] && S.n_git_needle < sizeof S.git_needle / sizeof *S.git_needle) {
			char *needle = argv[++i];
			for (char *c = needle; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			S.git_needle[S.n_git_needle++] = needle;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	char **roots = &argv[i + 1];
	size_t n_roots = (size_t)(argc - i - 1);
	if (wait_stdin) {
		/* Before the clock below is read: the cache's racy test needs the
		 * time the walk starts, not the time the process did. */
		size_t len;
		char *go = await_word(STDIN_FILENO, say, &len);
		if (!go)
			return 0;
		if (len != 2 || strcmp(go, CORDON_SCAN_WORD_GO) != 0) {
			fputs("cordon: the scan's go: not one\n", stderr);
			exit(EXIT_HELPER);
		}
		free(go);
	}

	/* Descriptors: the window, a few while a directory is read, the cache's and stdio. */
	struct rlimit rl;
	F.window = FD_WINDOW;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * FD_WINDOW + 16)
		F.window = rl.rlim_cur > 24 ? (size_t)(rl.rlim_cur - 16) / 2 : 4;
	char **paths = calloc(n_roots + 1, sizeof *paths);
	if (!paths)
		die("calloc");
	for (size_t r = 0; r < n_roots; r++)
		paths[r] = root_path(roots[r]);
	if (C.file) {
		/* Taken before any stat: records stamped with it err towards racy. */
		struct timespec now;
		if (clock_gettime(CLOCK_REALTIME, &now) < 0 || !ts_ns(now, &S.now))
			S.now = INT64_MIN; /* every record racy: nothing is ever reused */
		cache_key(paths, n_roots);
		cache_open(n_roots);
	}
	const unsigned char *old = S.old;
	size_t old_left = S.old_len;
	for (size_t r = 0; r < n_roots; r++) {
		struct rec rec = { 0 };
		if (old)
			rec_next(&old, &old_left, &rec); /* cache_check counted them */
		S.path_len = strlen(paths[r]);
		grow(&S.path, &S.path_cap, S.path_len + 1);
		memcpy(S.path, paths[r], S.path_len + 1);
		enter_root(roots[r], rec);
		walk();
	}
	if (S.errors) {
		char n[32];
		int len = snprintf(n, sizeof n, "%lu", S.errors);
		emit('E', n, (size_t)len);
	}
	out_flush();
	/* Rewritten only when it would differ: an unchanged tree costs no write. */
	if (S.caching && !S.w_fail && !(S.old && S.w_len == S.old_len && memcmp(S.w, S.old, S.w_len) == 0))
		cache_store();
	return 0;
}


/* -------------------------------------------------------------- connect -- */

/*
 * `cordon-helper connect HOST PORT`: an ssh ProxyCommand for use INSIDE the
 * sandbox (cordon sets GIT_SSH_COMMAND to it). It asks cordon's HTTP proxy on
 * 127.0.0.1:3128 for a CONNECT tunnel to HOST:PORT, then copies stdin to the
 * tunnel and the tunnel to stdout until both directions end. The proxy
 * decides; a refusal is printed (the proxy's one-line reason) and exits 1.
 */
static int cmd_connect(int argc, char **argv)
{
	if (argc != 2 || strlen(argv[0]) > 255 || strpbrk(argv[0], " \r\n") || atoi(argv[1]) < 1 || atoi(argv[1]) > 65535)
		usage();
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(3128) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect to cordon's proxy at 127.0.0.1:3128 (is a domain allowed?)");
	char req[600];
	bool v6 = strchr(argv[0], ':') != NULL;
	int n = snprintf(req, sizeof req, "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n\r\n", v6 ? "[" : "", argv[0], v6 ? "]" : "",
			 atoi(argv[1]), v6 ? "[" : "", argv[0], v6 ? "]" : "", atoi(argv[1]));
	if (!write_all(s, req, (size_t)n))
		die("write");
	/* Read the response head byte by byte: nothing past it may be consumed. */
	char head[4096];
	size_t len = 0;
	while (len < sizeof head - 1) {
		ssize_t r = read(s, head + len, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len++;
		if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	head[len] = '\0';
	if (strncmp(head, "HTTP/1.1 200", 12) != 0 && strncmp(head, "HTTP/1.0 200", 12) != 0) {
		char body[512];
		ssize_t b = read(s, body, sizeof body - 1);
		body[b > 0 ? b : 0] = '\0';
		fprintf(stderr, "%.*s%s", (int)strcspn(head, "\r\n"), head, b > 0 ? "\n" : "");
		fputs(body, stderr);
		return 1;
	}
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = s, .events = POLLIN } };
	char buf[65536];
	bool in_open = true, sock_open = true;
	while (sock_open) {
		p[0].fd = in_open ? STDIN_FILENO : -1;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (in_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
			if (r <= 0) {
				in_open = false;
				shutdown(s, SHUT_WR); /* pass the FIN on */
			} else if (!write_all(s, buf, (size_t)r)) {
				return 1;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(s, buf, sizeof buf);
			if (r <= 0)
				sock_open = false;
			else if (!write_all(STDOUT_FILENO, buf, (size_t)r))
				return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ setaside -- */

#include "setaside.h"

/* with-scan --then: waits for cordon's word on fds[0] (await_word: the
 * scan's arguments, each NUL-terminated), then runs that scan with stdout
 * on fds[1], stderr on fds[2] and its status as one byte on fds[3]. `say`:
 * --say's descriptor, or -1. */
static int then_scan(const int fds[4], int say)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0 || dup2(fds[3], 3) < 0 || dup2(fds[0], 4) < 0)
		return 125;
	if (say >= 0 && dup2(say, 5) < 0)
		return 125;
	if (syscall(__NR_close_range, say >= 0 ? 6U : 5U, ~0U, 0U) != 0)
		return 125;
	size_t len = 0;
	char *buf = await_word(4, say >= 0 ? 5 : -1, &len);
	if (!buf)
		return 0;
	if (say >= 0)
		close(5);
	close(4);
	if (buf[len - 1] != '\0')
		die("the scan's arguments: not NUL-terminated");
	int n = 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	char **args = calloc((size_t)n + 1, sizeof *args);
	if (!args)
		die("calloc");
	for (size_t i = 0, k = 0; i < len; k++) {
		args[k] = buf + i;
		i += strlen(buf + i) + 1;
	}
	unsigned char rc = (unsigned char)cmd_scan(n, args);
	fflush(stdout);
	(void)!write(3, &rc, 1);
	return rc;
}

/* with-scan: see the top of this file. */
static int cmd_with_scan(int argc, char **argv)
{
	if (argc < 5)
		usage();
	int out = parse_fd(argv[0]), err = parse_fd(argv[1]), status = parse_fd(argv[2]);
	char *end;
	errno = 0;
	unsigned long n = strtoul(argv[3], &end, 10);
	if (errno || *end || n > (unsigned long)argc - 5 || out < 3 || err < 3 || status < 3)
		usage();
	char **scan = argv + 4, **prog = argv + 4 + n;
	/* --then THEN OUT2 ERR2 STATUS2: a second scan, of arguments cordon
	 * writes on THEN (NUL-terminated each) once it knows them, from a process
	 * forked now, before the first scan changes anything of this one's. */
	int then[4] = { -1, -1, -1, -1 };
	if (prog[0] && strcmp(prog[0], "--then") == 0) {
		if ((unsigned long)argc - 4 - n < 6)
			usage();
		for (int i = 0; i < 4; i++)
			then[i] = parse_fd(prog[1 + i]);
		prog += 5;
		/* --say FD: where the command that finishes a run after cordon's death speaks (await_word). */
		int say = -1;
		if (prog[0] && strcmp(prog[0], "--say") == 0) {
			if (!prog[1] || !prog[2])
				usage();
			say = parse_fd(prog[1]);
			prog += 2;
		}
		pid_t spare = fork();
		if (spare < 0)
			die("fork");
		if (spare == 0)
			_exit(then_scan(then, say));
	}
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* Only OUT, ERR and STATUS: no copy of the sandbox process's pipes may
		 * outlive it here (cordon waits for their ends). */
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup2(status, 3) < 0)
			_exit(125);
		if (syscall(__NR_close_range, 4U, ~0U, 0U) != 0)
			_exit(125);
		unsigned char rc = (unsigned char)cmd_scan((int)n, scan);
		fflush(stdout);
		(void)!write(3, &rc, 1);
		_exit(rc);
	}
	close(out);
	close(err);
	close(status);
	for (int i = 0; i < 4; i++)
		if (then[i] >= 0)
			close(then[i]);
	execv(prog[0], prog);
	fprintf(stderr, "cordon-helper: cannot run %s: %s\n", prog[0], strerror(errno));
	return 127;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], CORDON_HELPER_COMMAND_RUN) == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(argv[1], CORDON_HELPER_COMMAND_SCAN) == 0)
		return cmd_scan(argc - 2, argv + 2);
	if (strcmp(argv[1], "with-scan") == 0)
		return cmd_with_scan(argc - 2, argv + 2);
	if (strcmp(argv[1], CORDON_HELPER_COMMAND_CONNECT) == 0)
		return cmd_connect(argc - 2, argv + 2);
	if (strcmp(argv[1], CORDON_HELPER_COMMAND_SETASIDE) == 0)
		return cmd_setaside(argc - 2, argv + 2);
	if (strcmp(argv[1], CORDON_HELPER_COMMAND_LANDLOCK_ABI) == 0) {
		/* The Landlock ABI this kernel offers, 0 if none: cordon probes it once per boot (probe.ts) and plans for it. */
		long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
		printf("%ld\n", abi < 0 ? 0L : abi);
		return 0;
	}
	usage();
}
