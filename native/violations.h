/*
 * Write-intent reporting for cordon-helper run --report-fd FD (see
 * docs/violations.md). The helper decides nothing here: every call it hears
 * about goes on as the command made it (SECCOMP_USER_NOTIF_FLAG_CONTINUE),
 * and the kernel's walls (read-only mounts, Landlock) answer it as they
 * would without us. The helper only writes down, for cordon to classify,
 * which process asked for which write-intent call on which path, and what
 * that path looked like from inside the sandbox.
 *
 * Trust boundary: the command chooses the path string (it lives in its
 * memory, and another of its threads may change it after we read it; for a
 * report that is fine), the descriptors, the rate. So: every string is read
 * with a bound, every reply is CONTINUE whatever happens while we look
 * (a failure to look drops the record, never the call), and records are
 * written by a thread of their own: when cordon reads too slowly, the calls
 * waiting to be described pile up and past WJOBS are dropped (counted); the
 * command never waits on cordon. The record fd is close-on-exec: the
 * command never holds it and cannot write records of its own.
 *
 * Record (all fields NUL-terminated): OP PID FLAGS FACTS1 PATH1 FACTS2 PATH2.
 * The last record, written when CMD has ended and every call is described: D 0 COUNT - /
 * (empty) (empty), COUNT the calls dropped (hex). A stream without it is incomplete.
 *   OP      o open/openat/openat2/creat, t truncate, m mkdir, n mknod,
 *           u unlink, r rmdir, R rename, l link, s symlink, M chmod,
 *           C chown, U utimensat
 *   FLAGS   the call's flags in hex (open flags; renameat2 flags), else 0
 *   FACTS   about PATH as the sandbox sees it: one type letter, as
 *           it was just before the call went on (f regular,
 *           d directory, l symlink (not followed), c, b, p, s, - missing,
 *           ? unknown), then, after the call returned (a refused call
 *           changed nothing there), P if its directory exists, then for an
 *           existing non-directory what faccessat(W_OK, AT_EACCESS) says:
 *           w (writable), a (EACCES: the file's own permissions), r (EROFS),
 *           then T if, with --report-truncate, the call truncates and a
 *           regular file was there before it went on, then :MNTID, the
 *           mount its directory is on.
 *   PATH    absolute: the directory resolved (symlinks followed, as the
 *           kernel does), the last component as given, or resolved too
 *           when the call follows it (a link to a missing file: the path
 *           it names, which the call would create). Empty for the second path of a call
 *           with one.
 * A call whose path cannot be read or resolved (a descriptor that is not
 * a directory, /proc/PID gone) is not recorded.
 */
#ifndef CORDON_VIOLATIONS_H
#define CORDON_VIOLATIONS_H

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef __O_TMPFILE
#define __O_TMPFILE 020000000
#endif

#if defined(__x86_64__)
#define REPORT_AUDIT_ARCH 0xc000003eU
#elif defined(__aarch64__)
#define REPORT_AUDIT_ARCH 0xc00000b7U
#else
#error "cordon-helper: write-intent reporting knows x86_64 and aarch64 only"
#endif

/* Where a call keeps its arguments: -1 = absent, 9 = AT_FDCWD implied. */
struct wcall {
	int nr;
	char op;
	signed char dfd, path, dfd2, path2, flags;
	bool follow; /* the call follows a symlink in the last component (unless its flags say not) */
};

#define NOARG (-1)
#define CWD 9
static const struct wcall wcalls[] = {
#ifdef SYS_open
	{ SYS_open, 'o', CWD, 0, NOARG, NOARG, 1, true },
	{ SYS_creat, 'o', CWD, 0, NOARG, NOARG, NOARG, true },
	{ SYS_mkdir, 'm', CWD, 0, NOARG, NOARG, NOARG, false },
	{ SYS_mknod, 'n', CWD, 0, NOARG, NOARG, NOARG, false },
	{ SYS_unlink, 'u', CWD, 0, NOARG, NOARG, NOARG, false },
	{ SYS_rmdir, 'r', CWD, 0, NOARG, NOARG, NOARG, false },
	{ SYS_rename, 'R', CWD, 0, CWD, 1, NOARG, false },
	{ SYS_link, 'l', CWD, 1, NOARG, NOARG, NOARG, false },
	{ SYS_symlink, 's', CWD, 1, NOARG, NOARG, NOARG, false },
	{ SYS_chmod, 'M', CWD, 0, NOARG, NOARG, NOARG, true },
	{ SYS_chown, 'C', CWD, 0, NOARG, NOARG, NOARG, true },
	{ SYS_lchown, 'C', CWD, 0, NOARG, NOARG, NOARG, false },
#endif
	{ SYS_openat, 'o', 0, 1, NOARG, NOARG, 2, true },
	{ SYS_openat2, 'o', 0, 1, NOARG, NOARG, NOARG, true }, /* flags: read from its struct open_how */
	{ SYS_truncate, 't', CWD, 0, NOARG, NOARG, NOARG, true },
	{ SYS_mkdirat, 'm', 0, 1, NOARG, NOARG, NOARG, false },
	{ SYS_mknodat, 'n', 0, 1, NOARG, NOARG, NOARG, false },
	{ SYS_unlinkat, 'u', 0, 1, NOARG, NOARG, 2, false },
#ifdef SYS_renameat
	{ SYS_renameat, 'R', 0, 1, 2, 3, NOARG, false },
#endif
	{ SYS_renameat2, 'R', 0, 1, 2, 3, 4, false },
	{ SYS_linkat, 'l', 2, 3, NOARG, NOARG, NOARG, false },
	{ SYS_symlinkat, 's', 1, 2, NOARG, NOARG, NOARG, false },
	{ SYS_fchmodat, 'M', 0, 1, NOARG, NOARG, NOARG, true },
	{ SYS_fchmodat2, 'M', 0, 1, NOARG, NOARG, 3, true },
	{ SYS_fchownat, 'C', 0, 1, NOARG, NOARG, 4, true },
	{ SYS_utimensat, 'U', 0, 1, NOARG, NOARG, 3, true },
};
#undef NOARG

#define OPEN_WRITE_INTENT (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)

/*
 * The listener filter: CMD's process gets it after cordon's own filter, so a
 * call that filter refuses never comes here (ERRNO outranks USER_NOTIF).
 * connect() when Unix sockets are granted; with reporting, the calls above,
 * open/openat only with a write-intent flag, utimensat only with a path
 * (futimens is fd-only). Everything else: ALLOW, decided on the number and
 * arch alone but for open/openat/utimensat.
 */
static int install_listener(bool connect_calls, bool write_calls)
{
	struct sock_filter f[96];
	unsigned n = 0;
	/* Labels resolved once the tails are placed: jt/jf hold 0x80|label until then. */
	enum { L_NOTIF = 1, L_ALLOW, L_OPENAT, L_OPEN, L_UTIME, L_OPENAT2 };
	int at[8] = { 0 };
#define EMIT(code, k, jt, jf) (f[n++] = (struct sock_filter){ (code), (jt), (jf), (k) })
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	EMIT(BPF_JMP | BPF_JEQ | BPF_K, REPORT_AUDIT_ARCH, 0, 0x80 | L_ALLOW);
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	if (connect_calls)
		EMIT(BPF_JMP | BPF_JEQ | BPF_K, SYS_connect, 0x80 | L_NOTIF, 0);
	if (write_calls) {
		for (size_t i = 0; i < sizeof wcalls / sizeof wcalls[0]; i++) {
			int nr = wcalls[i].nr;
			unsigned char to = nr == SYS_openat ? L_OPENAT : nr == SYS_utimensat ? L_UTIME : L_NOTIF;
#ifdef SYS_open
			if (nr == SYS_open)
				to = L_OPEN;
#endif
			EMIT(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0x80 | to, 0);
		}
	}
	EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	at[L_OPENAT] = (int)n;
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]), 0, 0);
	EMIT(BPF_JMP | BPF_JSET | BPF_K, OPEN_WRITE_INTENT, 0x80 | L_NOTIF, 0x80 | L_ALLOW);
	at[L_OPEN] = (int)n;
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]), 0, 0);
	EMIT(BPF_JMP | BPF_JSET | BPF_K, OPEN_WRITE_INTENT, 0x80 | L_NOTIF, 0x80 | L_ALLOW);
	/* utimensat(fd, NULL, ...) is futimens: no path. Both halves of the pointer. */
	at[L_UTIME] = (int)n;
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]), 0, 0);
	EMIT(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0x80 | L_NOTIF);
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4, 0, 0);
	EMIT(BPF_JMP | BPF_JEQ | BPF_K, 0, 0x80 | L_ALLOW, 0x80 | L_NOTIF);
	at[L_NOTIF] = (int)n;
	EMIT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, 0, 0);
	at[L_ALLOW] = (int)n;
	EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
#undef EMIT
	for (unsigned i = 0; i < n; i++) {
		if (BPF_CLASS(f[i].code) != BPF_JMP)
			continue;
		if (f[i].jt & 0x80)
			f[i].jt = (unsigned char)(at[f[i].jt & 0x7f] - (int)i - 1);
		if (f[i].jf & 0x80)
			f[i].jf = (unsigned char)(at[f[i].jf & 0x7f] - (int)i - 1);
	}
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
	/* WAIT_KILLABLE_RECV (Linux 5.19): once PID 1 has taken a call, only a
	 * fatal signal interrupts the wait. Without it a signal handler without
	 * SA_RESTART (a timer, SIGCHLD) made an open(), unlink() or mkdir()
	 * fail with EINTR, which those calls never do outside the sandbox
	 * (test: "a signal handler without SA_RESTART"). Older kernels: without. */
	int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	return fd;
}

static void notif_continue(int listener, uint64_t id)
{
	struct seccomp_notif_resp resp = { .id = id, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp); /* ENOENT: the thread is gone; nothing to answer */
}

/*
 * Set when a call's paths could not be read because PID 1 may not read the
 * process that made it (EPERM/EACCES: it gave up being dumpable, or runs an
 * execute-only program, which the kernel makes so): such a call is counted
 * as dropped, so that the list says it is partial, never silently complete.
 */
static bool denied(int err)
{
	return err == EPERM || err == EACCES;
}

/*
 * A NUL-terminated string from pid's memory, at most cap-1 bytes; false if
 * unreadable or too long. *no_access is set whenever the memory could not be
 * read, whatever the reason: PID 1 may not read the process, or the page is
 * one no other process may read (memfd_secret) while the process's own call
 * reads it. Over-counting a call the kernel refused anyway (a bad pointer)
 * only marks the list partial.
 */
static bool read_target_string(pid_t pid, uint64_t addr, char *out, size_t cap, bool *no_access)
{
	size_t got = 0;
	long page = sysconf(_SC_PAGESIZE);
	while (got < cap - 1) {
		uint64_t a = addr + got;
		size_t chunk = (size_t)page - (size_t)(a % (uint64_t)page); /* never cross into a page that may be unmapped */
		if (chunk > cap - 1 - got)
			chunk = cap - 1 - got;
		struct iovec local = { out + got, chunk }, remote = { (void *)(uintptr_t)a, chunk };
		ssize_t k = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (k <= 0) {
			*no_access = true;
			return false;
		}
		char *nul = memchr(out + got, 0, (size_t)k);
		if (nul)
			return true;
		got += (size_t)k;
	}
	return false;
}

/* The directory a *at call's path is relative to: its cwd, or what the fd names (and, in *id, what it is); *no_access as above. */
static bool target_base(pid_t pid, long dfd, char *out, size_t cap, struct stat *id, bool *no_access)
{
	char link[64];
	if ((int)dfd == AT_FDCWD)
		snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
	else if ((int)dfd >= 0)
		snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, (int)dfd);
	else
		return false;
	ssize_t k = readlink(link, out, cap - 1);
	if (k < 0 && denied(errno))
		*no_access = true;
	if (k <= 0 || out[0] != '/')
		return false; /* a pipe, a socket, a deleted directory ("... (deleted)" still starts with /: caught by realpath later) */
	out[k] = 0;
	return stat(link, id) == 0;
}

struct wpath {
	char *asked; /* base + "/" + path, as the command gave it (malloc'd: a queued call holds only its own bytes) */
	bool ok;
	bool was_file; /* --report-truncate, a truncating open: a regular file was there before the call */
	char before; /* its type letter (FACTS) just before the call went on; 0 unknown */
	bool no_access; /* not read: PID 1 could not read the path or the directory (see read_target_string, denied) */
	size_t base_len; /* a relative path's: the length of the directory's name in asked (0: absolute) */
	dev_t base_dev; /* and what that directory was when the call was made */
	ino_t base_ino;
};

/*
 * Whether a relative path's directory name still leads to the directory the
 * call was made in: one the host moved out of every mount the sandbox has,
 * while the command held it, reads as another path, which would be judged
 * instead (the kernel's answer there is not that path's). Such a call is
 * not described. Off the command's way (the describer).
 */
static bool wpath_anchored(const struct wpath *w)
{
	if (!w->base_len)
		return true;
	char base[PATH_MAX];
	if (w->base_len >= sizeof base)
		return false;
	memcpy(base, w->asked, w->base_len);
	base[w->base_len] = 0;
	struct stat st;
	return stat(base, &st) == 0 && st.st_dev == w->base_dev && st.st_ino == w->base_ino;
}

/* Reads and anchors one path argument, before the call goes on (the cwd is the command's to change after). */
static void wpath_read(struct wpath *w, pid_t pid, const struct seccomp_notif *req, int dfd_arg, int path_arg)
{
	char path[PATH_MAX];
	w->ok = false;
	w->no_access = false;
	w->asked = NULL;
	w->base_len = 0;
	if (path_arg < 0 || !read_target_string(pid, req->data.args[path_arg], path, sizeof path, &w->no_access) || !path[0])
		return;
	if (path[0] == '/') {
		w->asked = strdup(path);
	} else {
		char base[PATH_MAX];
		struct stat id;
		if (!target_base(pid, dfd_arg == CWD ? AT_FDCWD : (long)(int)req->data.args[dfd_arg], base, sizeof base, &id, &w->no_access))
			return;
		if (asprintf(&w->asked, "%s/%s", base, path) < 0)
			w->asked = NULL;
		w->base_len = strlen(base);
		w->base_dev = id.st_dev;
		w->base_ino = id.st_ino;
	}
	w->ok = w->asked != NULL;
}

static char type_letter(bool exists, mode_t m)
{
	return !exists ? '-' : S_ISREG(m) ? 'f' : S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISCHR(m) ? 'c' : S_ISBLK(m) ? 'b' : S_ISFIFO(m) ? 'p' : S_ISSOCK(m) ? 's' : '?';
}

/*
 * What the path's last name is just before the call goes on: the kernel
 * judges the call on this, and the command may change it the moment the
 * call returns (a temporary file renamed over a protected one, then
 * unlinked), before the describer looks. One lookup, two for a link the
 * call follows.
 */
static void wpath_before(struct wpath *w, bool follow)
{
	struct stat st;
	w->before = 0;
	if (fstatat(AT_FDCWD, w->asked, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (follow && S_ISLNK(st.st_mode) && stat(w->asked, &st) != 0) {
			/* Dangling: the call meets no file where the link points (the describer names that path). */
			w->before = errno == ENOENT ? '-' : 0;
			return;
		}
		w->before = type_letter(true, st.st_mode);
	} else if (errno == ENOENT || errno == ENOTDIR) {
		w->before = '-';
	}
	/* Any other failure (a path longer than PATH_MAX once anchored: ENAMETOOLONG;
	 * EACCES, ELOOP) says nothing of the name: the describer looks for itself. */
}

/*
 * Splits an absolute path in place into its directory (buf, "" for "/") and
 * its last name, which it returns; NULL where the path names no entry a call
 * creates or removes ("/", "x/.", "x/.."). "dir/" names dir.
 */
static const char *split_last(char *buf)
{
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = 0;
	char *slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	const char *last = slash + 1;
	if (!*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
		return NULL;
	*slash = 0;
	return last;
}

/*
 * For a link the call follows whose target does not exist: the path the
 * kernel would create, its target's directory resolved plus its last name,
 * into out. False where that is not one name in an existing directory (a
 * link to a link, "x/..", a missing directory): the link is reported then.
 */
static bool dangling_target(int dfd, const char *last, const char *dir, char *out, size_t cap)
{
	char target[PATH_MAX], joined[PATH_MAX * 2 + 2];
	ssize_t t = readlinkat(dfd, last, target, sizeof target - 1);
	if (t <= 0)
		return false;
	target[t] = 0;
	if (target[0] == '/')
		snprintf(joined, sizeof joined, "%s", target);
	else
		snprintf(joined, sizeof joined, "%s/%s", dir, target);
	const char *name = split_last(joined);
	if (!name)
		return false;
	char *real = realpath(joined[0] ? joined : "/", NULL);
	if (!real)
		return false;
	struct stat st;
	bool ok = fstatat(AT_FDCWD, real, &st, 0) == 0 && S_ISDIR(st.st_mode);
	if (ok) {
		char probe[PATH_MAX * 2 + 2];
		snprintf(probe, sizeof probe, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/", name);
		/* Still missing, and not a link itself (a chain is the kernel's to follow, not ours). */
		ok = fstatat(AT_FDCWD, probe, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
		if (ok)
			snprintf(out, cap, "%s", probe);
	}
	free(real);
	return ok;
}

/* FACTS and PATH for one anchored path, appended to rec; false if it cannot be resolved. */
static bool wpath_facts(const struct wpath *w, bool follow, char *rec, size_t cap, size_t *len)
{
	char buf[PATH_MAX * 2 + 2];
	snprintf(buf, sizeof buf, "%s", w->asked);
	const char *last = split_last(buf);
	if (!last)
		return false; /* not a name the call creates or removes */
	/* The kernel resolves the directory (one open, not a userland walk); /proc/self/fd names what it found. */
	int dfd = open(buf[0] ? buf : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char dir[PATH_MAX], link[64], full[PATH_MAX * 2 + 2];
	char facts[48];
	size_t f = 0;
	bool was_file = w->was_file;
	if (dfd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return false;
		/* Its directory does not exist: the kernel answers ENOENT before any wall. */
		if (snprintf(full, sizeof full, "%s/%s", buf, last) >= (int)sizeof full)
			return false;
		facts[f++] = '-';
	} else {
		snprintf(link, sizeof link, "/proc/self/fd/%d", dfd);
		ssize_t k = readlink(link, dir, sizeof dir - 1);
		if (k <= 0 || dir[0] != '/') {
			close(dfd);
			return false;
		}
		dir[k] = 0;
		snprintf(full, sizeof full, "%s%s%s", dir, k == 1 ? "" : "/", last);
		struct statx sx;
		unsigned mnt = 0;
		if (statx(dfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID))
			mnt = (unsigned)sx.stx_mnt_id;
		struct stat st;
		bool exists = fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0;
		bool followed = false;
		if (exists && follow && S_ISLNK(st.st_mode)) {
			char *real = realpath(full, NULL);
			if (real) {
				snprintf(full, sizeof full, "%s", real);
				free(real);
				exists = stat(full, &st) == 0;
				followed = true;
			} else if (dangling_target(dfd, last, dir, full, sizeof full)) {
				/* The call creates (or fails to create) what the link names. */
				exists = false;
				followed = true;
			} /* else (a chain of links, a target in no directory): reported as the link ('l') */
		}
		/* The type the call met, not the one the command left after it. */
		facts[f++] = w->before ? w->before : type_letter(exists, st.st_mode);
		facts[f++] = 'P';
		if (exists && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
			int r = followed ? faccessat(AT_FDCWD, full, W_OK, AT_EACCESS) : faccessat(dfd, last, W_OK, AT_EACCESS);
			facts[f++] = r == 0 ? 'w' : errno == EROFS ? 'r' : errno == EACCES ? 'a' : '?';
		}
		close(dfd);
		if (was_file)
			facts[f++] = 'T';
		f += (size_t)snprintf(facts + f, sizeof facts - f, ":%u", mnt);
	}
	facts[f] = 0;
	size_t fl = strlen(facts) + 1, pl = strlen(full) + 1;
	if (*len + fl + pl > cap)
		return false;
	memcpy(rec + *len, facts, fl);
	memcpy(rec + *len + fl, full, pl);
	*len += fl + pl;
	return true;
}

static struct {
	int fd;
	unsigned long dropped;
	/* From cordon (--report-quiet DIR, --report-loud PATH): a path at or below a
	 * quiet directory, with no loud path at, above or below it, is plainly
	 * writable (no wall there can refuse anything): not recorded. */
	const char **quiet, **loud;
	size_t n_quiet, n_loud;
	/* --report-truncate (the plan has no-delete paths, where Landlock refuses
	 * O_TRUNC on a file that exists): look, before a truncating open goes on,
	 * whether a file was there (after it, the call may have created one). */
	bool truncate;
} report = { -1, 0, NULL, NULL, 0, 0, false };

/* One call not described (the supervisor's and the describer's threads both count). */
static void dropped_one(void)
{
	__atomic_add_fetch(&report.dropped, 1, __ATOMIC_RELAXED);
}

static bool at_or_below(const char *p, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(p, dir, n) == 0 && (p[n] == 0 || p[n] == '/' || (n == 1 && dir[0] == '/'));
}

static bool is_quiet(const char *p)
{
	bool in = false;
	for (size_t i = 0; i < report.n_quiet && !in; i++)
		in = at_or_below(p, report.quiet[i]);
	for (size_t i = 0; in && i < report.n_loud; i++)
		if (at_or_below(p, report.loud[i]) || at_or_below(report.loud[i], p))
			in = false;
	return in;
}

/* The path resolved as the kernel will (its directory; its last name too if followed and a link: then never quiet), checked against the quiet list. */
static bool wpath_quiet(const struct wpath *w, bool follow)
{
	if (!report.n_quiet)
		return false;
	char buf[PATH_MAX * 2 + 2];
	snprintf(buf, sizeof buf, "%s", w->asked);
	const char *last = split_last(buf);
	if (!last)
		return false;
	int dfd = open(buf[0] ? buf : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return false;
	char dir[PATH_MAX], link[64], full[PATH_MAX * 2 + 2];
	snprintf(link, sizeof link, "/proc/self/fd/%d", dfd);
	ssize_t k = readlink(link, dir, sizeof dir - 1);
	struct stat st;
	bool quiet = k > 0 && dir[0] == '/';
	if (quiet) {
		dir[k] = 0;
		snprintf(full, sizeof full, "%s%s%s", dir, k == 1 ? "" : "/", last);
		quiet = is_quiet(full) && !(follow && fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
	}
	close(dfd);
	return quiet;
}

/* One call, read before it went on, described after (off the command's way: describe_job). */
struct wjob {
	char op;
	bool follow;
	int pid;
	uint64_t flags;
	struct wpath a, b;
};

static void job_free(struct wjob *j)
{
	if (!j)
		return;
	free(j->a.asked);
	free(j->b.asked);
	free(j);
}

/* Jobs the describer has not taken yet: at most WJOBS (a few hundred bytes each), more are dropped (counted), never waited for. */
#define WJOBS 4096
static struct {
	pthread_mutex_t m;
	pthread_cond_t c, idle;
	struct wjob *slot[WJOBS];
	unsigned head, n;
	unsigned busy; /* calls being read or described right now (report_flush waits for them) */
	int started; /* 0 not yet, 1 running, -1 could not start: describe inline */
} wq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0, 0, 0, 0 };

static void wq_busy(int d)
{
	pthread_mutex_lock(&wq.m);
	wq.busy = (unsigned)((int)wq.busy + d);
	if (wq.busy == 0 && wq.n == 0)
		pthread_cond_broadcast(&wq.idle);
	pthread_mutex_unlock(&wq.m);
}

/*
 * Before PID 1 ends (CMD has exited): the records of every call already let
 * go are written first, else the last refusals of a short command would be
 * lost. Bounded (2 s): a describer stuck on a hung filesystem does not keep
 * the sandbox alive.
 */
static void report_flush(void)
{
	if (report.fd < 0)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&wq.m);
	while (wq.busy > 0 || wq.n > 0)
		if (pthread_cond_timedwait(&wq.idle, &wq.m, &until) != 0)
			break;
	bool idle = wq.busy == 0 && wq.n == 0;
	unsigned long dropped = __atomic_load_n(&report.dropped, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&wq.m);
	/* The last record says how many were dropped, so that cordon can say its list is incomplete.
	 * Not while the describer may still be writing (its record would be cut): cordon takes a
	 * stream that ends without this record as incomplete. */
	if (idle) {
		char rec[64];
		int n = snprintf(rec, sizeof rec, "D%c0%c%lx%c-%c/%c%c", 0, 0, dropped, 0, 0, 0, 0);
		/* The pipe may be full: wait for room until the same deadline. */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		long ms = (long)(until.tv_sec - now.tv_sec) * 1000 + (until.tv_nsec - now.tv_nsec) / 1000000;
		struct pollfd p = { .fd = report.fd, .events = POLLOUT };
		if (n > 0 && poll(&p, 1, ms > 0 ? (int)ms : 0) == 1 && (p.revents & POLLOUT))
			(void)!write(report.fd, rec, (size_t)n + 1);
	}
}

static void describe_job(struct wjob *j)
{
	if (!wpath_anchored(&j->a) || (j->b.ok && !wpath_anchored(&j->b))) {
		dropped_one(); /* not described: the list must not look complete */
		return;
	}
	if (wpath_quiet(&j->a, j->follow) && (!j->b.ok || wpath_quiet(&j->b, false)))
		return;
	char rec[PATH_MAX * 5];
	size_t len = (size_t)snprintf(rec, sizeof rec, "%c%c%d%c%llx", j->op, 0, j->pid, 0, (unsigned long long)j->flags) + 1;
	bool ok = wpath_facts(&j->a, j->follow, rec, sizeof rec, &len);
	if (ok && j->b.ok)
		ok = wpath_facts(&j->b, false, rec, sizeof rec, &len);
	else if (ok && len + 2 <= sizeof rec) {
		rec[len++] = 0;
		rec[len++] = 0;
	} else
		ok = false;
	/* The fd is a stream (Node's stdio "pipe" is a socket pair): whole records only, so this
	 * thread waits for room; the command never does (it waits for nothing but the reads). */
	if (!ok || len > PIPE_BUF || !write_all(report.fd, rec, len))
		dropped_one();
}

static void *describer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&wq.m);
		while (wq.n == 0)
			pthread_cond_wait(&wq.c, &wq.m);
		struct wjob *j = wq.slot[wq.head];
		wq.head = (wq.head + 1) % WJOBS;
		wq.n--;
		pthread_mutex_unlock(&wq.m);
		describe_job(j);
		job_free(j);
		wq_busy(-1);
	}
	return NULL;
}

static void enqueue_job(struct wjob *j)
{
	if (wq.started == 0) {
		pthread_t t;
		wq.started = pthread_create(&t, NULL, describer, NULL) == 0 ? 1 : -1;
	}
	if (wq.started < 0) {
		describe_job(j);
		job_free(j);
		wq_busy(-1);
		return;
	}
	pthread_mutex_lock(&wq.m);
	bool full = wq.n == WJOBS;
	if (!full) {
		/* Still busy until the describer is done with it. */
		wq.slot[(wq.head + wq.n) % WJOBS] = j;
		wq.n++;
		pthread_cond_signal(&wq.c);
	}
	pthread_mutex_unlock(&wq.m);
	if (full) {
		dropped_one();
		job_free(j);
		wq_busy(-1);
	}
}

/*
 * One write-intent call: its paths are read and anchored while it waits
 * (what it named, relative to its cwd or directory fd as they are now) and
 * what each names is looked up (its type: the command may remove or
 * create it right after the call), it goes on, and the rest (resolving,
 * looking at the directory and the mount, the record) happens on the
 * describer thread, so the command waits only for the reads and lookups.
 */
static void handle_write_notice(int listener, const struct seccomp_notif *req)
{
	const struct wcall *c = NULL;
	for (size_t i = 0; i < sizeof wcalls / sizeof wcalls[0]; i++)
		if (wcalls[i].nr == req->data.nr)
			c = &wcalls[i];
	wq_busy(1);
	struct wjob *j = c ? calloc(1, sizeof *j) : NULL;
	if (j) {
		j->op = c->op;
		j->pid = (int)req->pid;
		j->flags = c->flags >= 0 ? req->data.args[c->flags] : 0;
		wpath_read(&j->a, req->pid, req, c->dfd, c->path);
		j->a.was_file = false;
		j->b.ok = false;
		j->b.was_file = false;
		if (c->path2 >= 0)
			wpath_read(&j->b, req->pid, req, c->dfd2, c->path2);
#ifdef SYS_open
		if (req->data.nr == SYS_creat)
			j->flags = O_CREAT | O_WRONLY | O_TRUNC;
#endif
		if (req->data.nr == SYS_openat2) {
			/* struct open_how starts with the u64 flags; a read-only openat2 is no write. */
			struct iovec local = { &j->flags, sizeof j->flags }, remote = { (void *)(uintptr_t)req->data.args[2], sizeof j->flags };
			ssize_t k = process_vm_readv(req->pid, &local, 1, &remote, 1, 0);
			/* Unread (not dumpable, secret memory, a short read): it may have been a write. */
			if (k != (ssize_t)sizeof j->flags)
				j->a.no_access = true;
			if (k != (ssize_t)sizeof j->flags || !(j->flags & OPEN_WRITE_INTENT))
				j->a.ok = false;
		}
		if (report.truncate && j->a.ok && j->op == 'o' && (j->flags & O_TRUNC) && !(j->flags & O_EXCL)) {
			struct stat st;
			j->a.was_file = stat(j->a.asked, &st) == 0 && S_ISREG(st.st_mode);
		}
		j->follow = c->follow;
		if ((j->op == 'o' && (j->flags & (O_NOFOLLOW | O_EXCL))) || ((j->op == 'M' || j->op == 'C' || j->op == 'U') && c->flags >= 0 && (j->flags & AT_SYMLINK_NOFOLLOW)))
			j->follow = false;
#ifdef SYS_lchown
		if (req->data.nr == SYS_lchown)
			j->follow = false;
#endif
		if (j->a.ok)
			wpath_before(&j->a, j->follow);
		if (j->b.ok)
			wpath_before(&j->b, false);
		/* What we read belongs to the thread that asked, not to a recycled pid. */
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0)
			j->a.ok = false;
	}
	notif_continue(listener, req->id);
	if (j && (j->a.no_access || j->b.no_access))
		dropped_one();
	if (!j || !j->a.ok || (j->op == 'o' && (j->flags & __O_TMPFILE) == __O_TMPFILE)) {
		job_free(j);
		wq_busy(-1);
		return;
	}
	enqueue_job(j);
}
#undef CWD

#endif
