/*
 * cordon-helper setaside ROOT OP...
 *
 * Runs on the host after a sandboxed run (and, for a run whose cordon was
 * killed, from its journal at the next start). It moves aside what the
 * command created that git on the host would take code from; TypeScript
 * (src/platform/linux/after-run.ts) decides what, this applies it.
 *
 * Trust boundary: everything beneath ROOT was shaped by the command, which
 * may also still be running in a second sandbox (racing). So every path is
 * resolved from a descriptor of ROOT with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): no symlink is followed and
 * nothing outside ROOT is reached. A rename never replaces anything
 * (RENAME_NOREPLACE), a file is created only where nothing is (O_EXCL), and a
 * file is read only if it is a small regular file, checked on the descriptor
 * that reads it (a FIFO would block, a device or a link would read something
 * of the command's choosing). Every walk is bounded.
 *
 * Before the ops: --ops-stdin (the ops come NUL-separated on stdin instead),
 * then --root-id DEV:INO (ROOT must still be that directory, reached with no
 * symlink on its path; else every op fails and nothing is touched).
 * Ops (REL: relative to ROOT, no leading "/"; ".." is refused by the kernel):
 *   --move REL         rename REL to REL.cordon-untrusted, or -2 ... -99 (the first free),
 *                      or -<16 random hex digits> when all are taken
 *   --move-read REL    --move, and print what moved if it is a regular file of at
 *                      most 1 MiB (read from the descriptor whose identity was
 *                      checked after the rename)
 *   --move-hooks REL   --move, unless REL is a directory holding only regular
 *                      files named *.sample (what git init writes; git runs none)
 *   --move-own REL SINCE  --move, unless REL is an entry the command could
 *                      neither have put there nor filled (kept): in a directory
 *                      every user shares, another user's, made there since
 *                      SINCE (ns since the epoch: the run's start; sa_maybe_commands)
 *   --move-unless-dir REL  --move, unless REL is a directory (a `.git` file or
 *                      link redirects git; a `.git` directory is handled inside)
 *   --move-if-linked REL SINCE  --move, if REL is this user's symbolic link, or
 *                      a regular file of this user's with more than one name,
 *                      that changed at or after SINCE (ns since the epoch: a
 *                      link made, or a name added, changes it); else kept
 *   --move-if-changed REL SINCE  --move REL (a rebase's or a cherry-pick's
 *                      state directory) if it or an entry in it changed at or
 *                      after SINCE (nanoseconds since the epoch: the run's
 *                      start), or it is not a directory; else kept; a
 *                      missing directory on the way is absent
 *   --create REL TEXT  create REL, mode 0644, holding TEXT
 *   --relink REL TARGET  REL must be a symlink to TARGET (a protected name that
 *                      was a link before the run): if it is not, what is
 *                      there is moved aside (as --move) and the link made again
 * Output, per op, NUL-terminated fields:
 *   moved REL NEW | absent REL | kept REL | created REL | failed REL ERRNAME
 *   relinked REL NEW (NEW: where what replaced the link went; empty if nothing was there)
 *   content REL TEXT (after "moved", for --move-read)
 * Exit 0 once every op was tried (a failed op is a record, not an exit
 * status); 125 for bad usage or an unusable ROOT.
 */
#ifndef CORDON_SETASIDE_H
#define CORDON_SETASIDE_H

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define SETASIDE_SUFFIX ".cordon-untrusted"
#define SETASIDE_MAX_READ (1 << 20)
#define SETASIDE_MAX_HOOKS 4096

static void sa_field(const char *s, size_t n)
{
	if (!write_all(1, s, n) || !write_all(1, "", 1))
		exit(EXIT_HELPER);
}

static void sa_record(const char *kind, const char *rel, const char *extra)
{
	sa_field(kind, strlen(kind));
	sa_field(rel, strlen(rel));
	if (extra)
		sa_field(extra, strlen(extra));
}

static const char *sa_errname(int e)
{
	switch (e) {
	case ELOOP: return "ELOOP (a symlink on the way)";
	case EXDEV: return "EXDEV (outside the writable path)";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EROFS: return "EROFS";
	case EBUSY: return "EBUSY";
	case ENOTDIR: return "ENOTDIR";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case EEXIST: return "EEXIST (no free name)";
	default: return strerror(e);
	}
}

/* The directory holding REL's last component, opened beneath ROOT; *name points into rel. */
static int sa_parent(int root, const char *rel, const char **name, char *buf, size_t cap)
{
	const char *slash = strrchr(rel, '/');
	*name = slash ? slash + 1 : rel;
	if (!slash)
		return dup(root);
	size_t n = (size_t)(slash - rel);
	if (n == 0 || n >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, rel, n);
	buf[n] = 0;
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	return (int)syscall(SYS_openat2, root, buf, &how, sizeof how);
}

/* Renames dir/name to the first free name.cordon-untrusted, -2 ... -99, then
 * (all taken: the command can make them in advance) -<64 random bits>, a
 * name it cannot guess, so that no move can be blocked; 0, or an errno
 * (ENOENT: absent). */
static int sa_rename_aside(int dir, const char *name, char *to, size_t cap)
{
	/* A name too long to take the suffix and the random tail within NAME_MAX
	 * (every fallback must fit, or 99 names taken in advance would block the
	 * move) keeps as much of itself as fits with both, cut between two UTF-8
	 * characters, and goes straight to the random tail: the planted thing
	 * must still go. */
	int keep = (int)strnlen(name, NAME_MAX);
	bool cut = (size_t)keep + sizeof SETASIDE_SUFFIX - 1 + 17 > NAME_MAX;
	if (cut) {
		keep = NAME_MAX - (int)(sizeof SETASIDE_SUFFIX - 1) - 17;
		while (keep > 0 && ((unsigned char)name[keep] & 0xC0) == 0x80)
			keep--;
	}
	for (int n = cut ? 100 : 1; n < 108; n++) {
		uint64_t r = 0;
		if (n >= 100 && syscall(SYS_getrandom, &r, sizeof r, 0) != (long)sizeof r)
			return errno ? errno : EIO;
		int len = n == 1 ? snprintf(to, cap, "%.*s" SETASIDE_SUFFIX, keep, name)
			: n < 100 ? snprintf(to, cap, "%.*s" SETASIDE_SUFFIX "-%d", keep, name, n)
				  : snprintf(to, cap, "%.*s" SETASIDE_SUFFIX "-%016llx", keep, name, (unsigned long long)r);
		if (len < 0 || (size_t)len >= cap)
			return ENAMETOOLONG;
		if (syscall(SYS_renameat2, dir, name, dir, to, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST)
			return errno;
	}
	return EEXIST;
}

/* A directory of git's sample hooks only (bounded; anything odd counts as "not only samples"). */
static bool sa_only_samples(int dir, const char *name)
{
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[1 << 14];
	size_t seen = 0;
	bool only = true;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n <= 0) {
			only = only && n == 0;
			break;
		}
		for (long off = 0; off < n && only;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			size_t len = strlen(d->d_name);
			struct stat st;
			bool regular = d->d_type == DT_REG || (d->d_type == DT_UNKNOWN && fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode));
			only = ++seen <= SETASIDE_MAX_HOOKS && regular && len > 7 && strcmp(d->d_name + len - 7, ".sample") == 0;
		}
		if (!only)
			break;
	}
	close(fd);
	return only;
}

/*
 * --move-own: whether the command could have put the entry st describes
 * at its name in dir, or chosen what it holds. The command runs as this
 * uid, with this process's groups and no capabilities (it cannot give a
 * file away), so: an entry of this uid; a symbolic link (whoever made it,
 * where it leads is the command's to choose by renaming one in); any entry
 * when dir is not sticky or is this uid's (the sticky bit is what stops the
 * command renaming another user's entry there: not for the directory's
 * owner); a regular file with another link (a hard link the command made);
 * an entry the command may write, by its mode or an ACL (a directory it
 * renamed in and filled, a file it linked: protected_hardlinks lets it link
 * only what it may write).
 * What is left is another user's, made there by them.
 */
static bool sa_maybe_commands(int dir, const char *name, const struct stat *st, unsigned long long since)
{
	uid_t me = geteuid();
	struct stat ds;
	if (st->st_uid == me || S_ISLNK(st->st_mode))
		return true;
	/* Born before the run started (or when, not known): it was elsewhere then, and renaming a file in from a
	 * directory the command may write needs no right on the file itself. */
	struct statx sx;
	if (statx(dir, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) != 0 || !(sx.stx_mask & STATX_BTIME) ||
	    (unsigned long long)sx.stx_btime.tv_sec * 1000000000ULL + sx.stx_btime.tv_nsec < since)
		return true;
	if (fstat(dir, &ds) < 0 || !(ds.st_mode & S_ISVTX) || ds.st_uid == me)
		return true;
	if (S_ISREG(st->st_mode) && st->st_nlink > 1)
		return true;
	/* Nothing the command could have filled: a FIFO, a socket or a device holds no content of its own. */
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return false;
	/* The kernel's own answer (ACLs too) for this process; root, whom it never refuses, owns the shared directories. */
	return faccessat(dir, name, W_OK, AT_EACCESS | AT_SYMLINK_NOFOLLOW) == 0 || errno != EACCES;
}

/* Whether st changed at or after since (ns since the epoch). */
static bool sa_changed_since(const struct stat *st, unsigned long long since)
{
	return (unsigned long long)st->st_ctim.tv_sec * 1000000000ULL + (unsigned long long)st->st_ctim.tv_nsec >= since;
}

static void sa_move(int root, const char *rel, char mode, unsigned long long since)
{
	char parent[PATH_MAX], to[NAME_MAX + 1], newrel[PATH_MAX + NAME_MAX + 2];
	const char *name;
	int dir = sa_parent(root, rel, &name, parent, sizeof parent);
	if (dir < 0) {
		if (errno == ENOENT)
			sa_record("absent", rel, NULL);
		else
			sa_record("failed", rel, sa_errname(errno));
		return;
	}
	struct stat st;
	if (mode == 'd' && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		sa_record("kept", rel, NULL);
		close(dir);
		return;
	}
	if (mode == 'o' && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !sa_maybe_commands(dir, name, &st, since)) {
		sa_record("kept", rel, NULL);
		close(dir);
		return;
	}
	if (mode == 'l' && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !(st.st_uid == geteuid() && (S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink > 1)) && sa_changed_since(&st, since))) {
		sa_record("kept", rel, NULL);
		close(dir);
		return;
	}
	if (mode == 'h' && sa_only_samples(dir, name)) {
		sa_record("kept", rel, NULL);
		close(dir);
		return;
	}
	int src = -1;
	struct stat before;
	if (mode == 'r') {
		/* O_NONBLOCK: a FIFO opens without waiting for a writer; O_NOFOLLOW: a link is not read. */
		src = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (src >= 0 && (fstat(src, &before) < 0 || !S_ISREG(before.st_mode) || before.st_size > SETASIDE_MAX_READ)) {
			close(src);
			src = -1;
		}
	}
	int err = sa_rename_aside(dir, name, to, sizeof to);
	if (err == ENOENT) {
		sa_record("absent", rel, NULL);
	} else if (err) {
		sa_record("failed", rel, sa_errname(err));
	} else {
		snprintf(newrel, sizeof newrel, "%.*s%s", (int)(name - rel), rel, to);
		sa_record("moved", rel, newrel);
		struct stat after;
		/* What moved must be the file that was opened: a racer may have swapped the name in between. */
		if (src >= 0 && fstatat(dir, to, &after, AT_SYMLINK_NOFOLLOW) == 0 && after.st_dev == before.st_dev && after.st_ino == before.st_ino) {
			char *text = malloc((size_t)before.st_size + 1);
			ssize_t got = 0, n;
			while (text && got < before.st_size && (n = pread(src, text + got, (size_t)(before.st_size - got), got)) > 0)
				got += n;
			if (text) {
				sa_field("content", 7);
				sa_field(rel, strlen(rel));
				/* NUL bytes would end the field early: git's config cannot hold them anyway. */
				sa_field(text, strnlen(text, (size_t)got));
			}
			free(text);
		}
	}
	if (src >= 0)
		close(src);
	close(dir);
}

static void sa_create(int root, const char *rel, const char *text)
{
	char parent[PATH_MAX];
	const char *name;
	int dir = sa_parent(root, rel, &name, parent, sizeof parent);
	int fd = dir < 0 ? -1 : openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !write_all(fd, text, strlen(text)))
		sa_record("failed", rel, sa_errname(errno));
	else
		sa_record("created", rel, NULL);
	if (fd >= 0)
		close(fd);
	if (dir >= 0)
		close(dir);
}

static void sa_relink(int root, const char *rel, const char *target)
{
	char parent[PATH_MAX], now[PATH_MAX], to[NAME_MAX + 1], newrel[PATH_MAX + NAME_MAX + 2] = "";
	const char *name;
	int dir = sa_parent(root, rel, &name, parent, sizeof parent);
	if (dir < 0) {
		sa_record("failed", rel, sa_errname(errno));
		return;
	}
	ssize_t n = readlinkat(dir, name, now, sizeof now - 1);
	if (n >= 0 && (size_t)n == strlen(target) && memcmp(now, target, (size_t)n) == 0) {
		sa_record("kept", rel, NULL);
		close(dir);
		return;
	}
	int err = sa_rename_aside(dir, name, to, sizeof to);
	if (err && err != ENOENT) {
		sa_record("failed", rel, sa_errname(err));
		close(dir);
		return;
	}
	if (!err)
		snprintf(newrel, sizeof newrel, "%.*s%s", (int)(name - rel), rel, to);
	if (symlinkat(target, dir, name) < 0)
		sa_record("failed", rel, sa_errname(errno));
	else
		sa_record("relinked", rel, newrel);
	close(dir);
}

/* Every op fails with `why` (the root is not the directory the run was given). */
static void sa_fail_all(int argc, char **argv, int from, const char *why)
{
	for (int i = from; i < argc; i++) {
		const char *op = argv[i];
		if (i + 1 >= argc)
			break;
		sa_record("failed", argv[++i], why);
		if (strcmp(op, "--create") == 0 || strcmp(op, "--relink") == 0 || strcmp(op, "--move-if-changed") == 0 || strcmp(op, "--move-own") == 0 || strcmp(op, "--move-if-linked") == 0)
			i++;
	}
}

/* A time in ns since the epoch, as the caller gave it (decimal digits only). */
static unsigned long long sa_ns(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long ns = strtoull(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || *s == '+')
		usage();
	return ns;
}

/*
 * --move-if-changed REL SINCE: REL is a rebase's or a cherry-pick's state
 * (rebase-merge/, sequencer/), whose todo list, strategy and options git runs
 * at --continue. Moved aside as a whole if it, or anything in it, changed at
 * or after SINCE (a directory renamed into place has a new change time, its
 * files do not), or if it is not a directory, or holds more than
 * SETASIDE_MAX_HOOKS entries; else kept.
 */
static void sa_move_if_changed(int root, const char *rel, const char *since_s)
{
	char parent[PATH_MAX];
	const char *name;
	unsigned long long since = sa_ns(since_s);
	int dir = sa_parent(root, rel, &name, parent, sizeof parent);
	if (dir < 0) {
		/* No git dir there any more (or a .git that is a file): nothing in progress. */
		sa_record(errno == ENOENT || errno == ENOTDIR ? "absent" : "failed", rel, errno == ENOENT || errno == ENOTDIR ? NULL : sa_errname(errno));
		return;
	}
	struct stat st;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		sa_record(errno == ENOENT ? "absent" : "failed", rel, errno == ENOENT ? NULL : sa_errname(errno));
		close(dir);
		return;
	}
	bool changed = !S_ISDIR(st.st_mode) || sa_changed_since(&st, since);
	int fd = changed ? -1 : openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (!changed && fd < 0)
		changed = true;
	char buf[1 << 14];
	size_t seen = 0;
	while (!changed) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n < 0)
			changed = true;
		if (n <= 0)
			break;
		for (long off = 0; off < n && !changed;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			struct stat e;
			changed = ++seen > SETASIDE_MAX_HOOKS || fstatat(fd, d->d_name, &e, AT_SYMLINK_NOFOLLOW) < 0 || sa_changed_since(&e, since);
		}
	}
	if (fd >= 0)
		close(fd);
	close(dir);
	if (changed)
		sa_move(root, rel, 'm', 0);
	else
		sa_record("kept", rel, NULL);
}

static int cmd_setaside(int argc, char **argv)
{
	if (argc < 1 || argv[0][0] != '/')
		usage();
	const char *root_path = argv[0];
	argc--;
	argv++;
	/* --ops-stdin: the ops come NUL-separated on stdin (a tree of thousands of new repositories overflows argv). */
	if (argc >= 1 && strcmp(argv[0], "--ops-stdin") == 0) {
		char *none[] = { argv[0], argv[0], NULL };
		char **rest = none;
		int n = 2;
		options_from(0, &n, &rest);
		argc = n;
		argv = rest;
	}
	/* --root-id DEV:INO[:BIRTH]: what the root was when the run started (device and inode compared). A second run may
	 * have replaced an ancestor since (renamed it, put a link there): the root
	 * is opened without following any link on its whole path, and must still
	 * be that directory, or nothing is touched. */
	unsigned long long want_dev = 0, want_ino = 0;
	int first = 0;
	if (argc >= 2 && strcmp(argv[0], "--root-id") == 0) {
		if (sscanf(argv[1], "%llu:%llu", &want_dev, &want_ino) != 2)
			usage();
		first = 2;
	}
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	int root = (int)syscall(SYS_openat2, AT_FDCWD, root_path, &how, sizeof how);
	struct stat st;
	if (root < 0 || fstat(root, &st) < 0) {
		sa_fail_all(argc, argv, first, errno == ELOOP ? "ELOOP (a symlink on the way to the writable path: it was replaced)" : sa_errname(errno));
		return 0;
	}
	if (first && ((unsigned long long)st.st_dev != want_dev || (unsigned long long)st.st_ino != want_ino)) {
		sa_fail_all(argc, argv, first, "the writable path is not the directory it was when the run started (replaced or moved)");
		close(root);
		return 0;
	}
	for (int i = first; i < argc; i++) {
		const char *op = argv[i];
		if (i + 1 >= argc || argv[i + 1][0] == '/' || argv[i + 1][0] == 0)
			usage();
		const char *rel = argv[++i];
		if (strcmp(op, "--move") == 0)
			sa_move(root, rel, 'm', 0);
		else if (strcmp(op, "--move-read") == 0)
			sa_move(root, rel, 'r', 0);
		else if (strcmp(op, "--move-own") == 0 && i + 1 < argc)
			sa_move(root, rel, 'o', sa_ns(argv[++i]));
		else if (strcmp(op, "--move-hooks") == 0)
			sa_move(root, rel, 'h', 0);
		else if (strcmp(op, "--move-unless-dir") == 0)
			sa_move(root, rel, 'd', 0);
		else if (strcmp(op, "--move-if-linked") == 0 && i + 1 < argc)
			sa_move(root, rel, 'l', sa_ns(argv[++i]));
		else if (strcmp(op, "--move-if-changed") == 0 && i + 1 < argc)
			sa_move_if_changed(root, rel, argv[++i]);
		else if (strcmp(op, "--create") == 0 && i + 1 < argc)
			sa_create(root, rel, argv[++i]);
		else if (strcmp(op, "--relink") == 0 && i + 1 < argc && argv[i + 1][0] != 0)
			sa_relink(root, rel, argv[++i]);
		else
			usage();
	}
	close(root);
	return 0;
}

#endif
