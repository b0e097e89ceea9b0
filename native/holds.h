/*
 * Held mounts (`run --hold PATH`): the paths the run hides, the ones it
 * holds read-only or pins inside a writable path, and its placeholders
 * (plan.ts, `holds`).
 *
 * The host can take such a mount away while the command runs: renaming a
 * file over a path, or removing it, detaches every mount on that path in
 * every other mount namespace (Linux >= 3.18). git writes .git/config that
 * way, editors save that way, `git clean -fd` removes empty placeholders.
 * From then on the command sees the path as the host has it: writable, or
 * readable where it was hidden; a git config it writes would run code in
 * the user's next `git status`, while the run still goes.
 *
 * So PID 1 finds each held path's mounts before the command starts (none:
 * the path was replaced while the sandbox was being set up, and nothing
 * runs), then watches its mount table (a poll on /proc/self/mountinfo wakes
 * on every change; a look every ~100 ms finds a held file renamed away, whose
 * mount went with it) and, the moment a held mount is gone or moved, names
 * the path and kills the command; and looks once more when the command has
 * ended. Exit 125. What the command could write in between is moved aside
 * by cordon's step after the run (after-run.ts replacedGuards).
 */

struct held {
	uint64_t *ids; /* the mount ids at held paths, sorted */
	size_t n;
	char **paths; /* ids[i]'s path: where that mount must still be (a mount renamed away keeps its id) */
	bool *seen; /* scratch for each look */
	int fd; /* /proc/self/mountinfo */
	pid_t child;
};

static struct held held = { .fd = -1 };
static _Atomic bool held_lost; /* set by the watch thread or the last look, read by PID 1's main loop */
static bool held_final; /* the last look is done (under held_lock): a watch look after it says nothing */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER; /* one look at a time: the fd's offset and `seen` are shared */

/* mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) undone in place. */
static void unescape_mount_point(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else
			*o++ = *p;
	}
	*o = 0;
}

/* Calls visit(id, mount point) for each line of the mount table (read whole from fd, from its start). */
static bool each_mount(int fd, void (*visit)(uint64_t id, char *point, void *ctx), void *ctx)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return false;
	size_t cap = 1 << 16, len = 0;
	char *text = malloc(cap);
	for (;;) {
		if (text && len + 1 >= cap) {
			char *more = realloc(text, cap *= 2);
			if (!more)
				free(text);
			text = more;
		}
		if (!text)
			return false;
		ssize_t n = read(fd, text + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(text);
			return false;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	text[len] = 0;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ...: the fifth field. */
		char *f = line;
		for (int k = 0; k < 4 && f; k++)
			f = strchr(f + 1, ' ');
		if (f) {
			char *e = strchr(f + 1, ' ');
			if (e)
				*e = 0;
			unescape_mount_point(f + 1);
			visit(strtoull(line, NULL, 10), f + 1, ctx);
		}
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return true;
}

struct hold_find {
	const char **sorted; /* the held paths, sorted (each looked up, not each compared: thousands of mounts) */
	size_t n;
	bool *found; /* by index in sorted */
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void hold_find(uint64_t id, char *point, void *ctx)
{
	struct hold_find *h = ctx;
	const char *key = point;
	const char **at = bsearch(&key, h->sorted, h->n, sizeof *h->sorted, cmp_str);
	if (!at)
		return;
	h->found[at - h->sorted] = true;
	uint64_t *ids = realloc(held.ids, (held.n + 1) * sizeof *ids);
	char **paths = realloc(held.paths, (held.n + 1) * sizeof *paths);
	if (!ids || !paths)
		die("realloc");
	held.ids = ids, held.paths = paths;
	held.ids[held.n] = id;
	held.paths[held.n++] = (char *)*at;
}

struct id_path {
	uint64_t id;
	char *path;
};

static int cmp_id_path(const void *a, const void *b)
{
	uint64_t x = ((const struct id_path *)a)->id, y = ((const struct id_path *)b)->id;
	return x < y ? -1 : x > y;
}

/* held's ids sorted, their paths along. */
static void sort_held(void)
{
	struct id_path *v = malloc((held.n + 1) * sizeof *v);
	if (!v)
		die("malloc");
	for (size_t i = 0; i < held.n; i++)
		v[i] = (struct id_path){ held.ids[i], held.paths[i] };
	qsort(v, held.n, sizeof *v, cmp_id_path);
	for (size_t i = 0; i < held.n; i++)
		held.ids[i] = v[i].id, held.paths[i] = v[i].path;
	free(v);
}

/* Before the command: each held path's mounts, or no command at all. */
static void find_holds(const struct run_config *c)
{
	if (c->n_holds == 0)
		return;
	held.fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	bool *found = calloc(c->n_holds, sizeof *found);
	const char **sorted = malloc(c->n_holds * sizeof *sorted);
	if (!found || !sorted)
		die("calloc");
	memcpy(sorted, c->holds, c->n_holds * sizeof *sorted);
	qsort(sorted, c->n_holds, sizeof *sorted, cmp_str);
	struct hold_find h = { sorted, c->n_holds, found };
	if (held.fd < 0 || !each_mount(held.fd, hold_find, &h))
		die("read /proc/self/mountinfo");
	/* Sorted by id from here: the watch looks each mount up. */
	sort_held();
	if (!(held.seen = calloc(held.n + 1, sizeof *held.seen)))
		die("calloc");
	for (size_t i = 0; i < c->n_holds; i++)
		if (!found[i]) {
			fprintf(stderr, "cordon: %s, which this run hides, holds read-only or pins, has no mount: it was replaced or removed on the host while the sandbox was set up. "
					"Nothing was run; look at it, then run the command again\n",
				sorted[i]);
			exit(EXIT_HELPER);
		}
	free(found);
	free(sorted);
}

static void hold_seen(uint64_t id, char *point, void *ctx)
{
	(void)ctx;
	size_t lo = 0, hi = held.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (held.ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Still there, and still at its path: a mount renamed away with its file keeps its id. */
	for (; lo < held.n && held.ids[lo] == id; lo++)
		if (strcmp(point, held.paths[lo]) == 0)
			held.seen[lo] = true;
}

/* The first held path whose mount is gone or moved, NULL if none; *failed when the table cannot be read. */
static const char *hold_gone(bool *failed)
{
	memset(held.seen, 0, held.n * sizeof *held.seen);
	*failed = !each_mount(held.fd, hold_seen, NULL);
	if (*failed)
		return NULL;
	for (size_t i = 0; i < held.n; i++)
		if (!held.seen[i])
			return held.paths[i];
	return NULL;
}

/* Stops the command first, then says which path: to cordon on the ready fd
 * (`H PATH` or `H`, NUL-terminated, in one write: cordon makes the error),
 * else on stderr. */
static void hold_lost(const char *path)
{
	held_lost = true;
	if (held.child > 0) {
		kill(-held.child, SIGKILL);
		kill(held.child, SIGKILL);
	}
	if (said_fd >= 0) {
		size_t n = path ? strlen(path) : 0;
		char *rec = malloc(n + 3);
		if (rec) {
			memcpy(rec, path ? "H " : "H", path ? 2 : 1);
			memcpy(rec + (path ? 2 : 1), path ? path : "", n + 1);
			(void)!write_all(said_fd, rec, (path ? 2 : 1) + n + 1);
			free(rec);
		}
		return;
	}
	if (path)
		fprintf(stderr, "cordon: %s, which this run hides, holds read-only or pins, was replaced, moved or removed on the host while the command ran, "
				"which took its mount away in the sandbox: the command was stopped\n",
			path);
	else
		fputs("cordon: could not watch the mounts this run holds: the command was stopped\n", stderr);
}

/* One look (under the lock): true once a held mount is found gone or moved, or the table unreadable, and said once. */
static bool holds_lost_now(void)
{
	pthread_mutex_lock(&held_lock);
	if (!held_lost && !held_final) {
		bool failed;
		const char *gone = hold_gone(&failed);
		if (gone || failed)
			hold_lost(gone);
	}
	bool lost = held_lost;
	pthread_mutex_unlock(&held_lock);
	return lost;
}

/* After the command ended: a mount gone in its last moments (before the watch could stop it) fails the run too. The last look: none after it. */
static bool holds_kept(void)
{
	if (held.n == 0)
		return true;
	bool lost = holds_lost_now();
	pthread_mutex_lock(&held_lock);
	held_final = true;
	pthread_mutex_unlock(&held_lock);
	return !lost;
}

/*
 * The watch: wakes on each change of the mount table (a mount taken away),
 * and looks again at least every WATCH_MS plus fifty times what a look
 * costs (at most ~2 % of a core with thousands of mounts): a held file the
 * host renames away changes no table, only where its mount now is. A held
 * mount gone or moved stops the command.
 */
#define WATCH_MS 100

static void *watch_holds(void *arg)
{
	(void)arg;
	int every = WATCH_MS;
	for (;;) {
		struct pollfd p = { .fd = held.fd, .events = POLLPRI };
		if (poll(&p, 1, every) < 0 && errno == EINTR)
			continue;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* A table that cannot be read any more is no watch either: the command must not go on unwatched. */
		bool lost = holds_lost_now();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long took_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
		every = WATCH_MS + (int)(took_us * 50 / 1000 > 10000 ? 10000 : took_us * 50 / 1000);
		/* hold_lost has stopped the command already. */
		if (lost)
			return NULL;
	}
}
