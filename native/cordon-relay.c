/*
 * cordon-relay: the network bridge into a sandbox. It joins the user and
 * network namespaces of the sandbox's PID 1 (outside its PID and mount
 * namespaces, so the confined process cannot see, signal or ptrace it),
 * listens on 127.0.0.1:PORT there, and relays every connection to one of
 * cordon's proxy Unix sockets on the host. The confined process needs no
 * AF_UNIX socket at all (seccomp refuses it); it sees only TCP on loopback.
 *
 * It decides nothing: the proxies behind the Unix sockets judge every
 * request. It only proves where a connection came from: it reads the session
 * secret from stdin (never argv or environment, which other processes can
 * read) and opens every upstream connection with the preamble
 * "CORDON/1 <secret>\n" before the first byte from the sandbox, so the
 * sandboxed client needs no credentials and never sees them. Trust boundary:
 * bytes from the sandbox are copied, never parsed.
 *
 *   cordon-relay --pid PID --map PORT=SOCKET [--map PORT=SOCKET]... < secret
 *
 * Prints "ready\n" on stdout once every listener is up, then serves until
 * killed (cordon kills it when the sandbox exits; it also dies with cordon).
 * Each direction of each connection is a thread moving data with splice(2)
 * through a pipe, so bytes are not copied through user space; a FIN in one
 * direction is passed on with shutdown(SHUT_WR) while the other keeps going.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

#define EXIT_RELAY 125
#define MAX_MAPS 8
#define PIPE_SIZE (1 << 20)
#define SECRET_MAX 128
/* How long to wait for the sandbox's loopback interface to come up. */
#define LOOPBACK_WAIT_US (5L * 1000 * 1000)

static char preamble[SECRET_MAX + 16];
static size_t preamble_len;

struct map {
	int port;
	const char *socket_path;
	int listen_fd;
};

struct conn {
	int client, upstream;
	atomic_int refs;
};

struct half {
	struct conn *c;
	int from, to;
};

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "cordon-relay: %s: %s\n", what, strerror(errno));
	exit(EXIT_RELAY);
}

/*
 * Joins the sandbox's network namespace and the user namespace that OWNS it
 * (asked from the netns itself with NS_GET_USERNS), not whatever user
 * namespace PID is in right now: with --disable-userns, bubblewrap moves its
 * child into a nested user namespace at some point after reporting its pid,
 * and joining that one would leave us without rights over the network
 * namespace (EPERM), depending on timing.
 */
static void join_sandbox_net(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
	int net = open(path, O_RDONLY | O_CLOEXEC);
	if (net < 0)
		die(path);
	int owner = ioctl(net, NS_GET_USERNS);
	if (owner < 0)
		die("NS_GET_USERNS");
	/* User namespace first: it grants the rights to join the network one. */
	if (setns(owner, CLONE_NEWUSER) < 0)
		die("setns(user)");
	if (setns(net, CLONE_NEWNET) < 0)
		die("setns(net)");
	close(owner);
	close(net);
}

/*
 * bubblewrap reports its child's pid before that child has brought the
 * loopback interface up, so the first bind can race it and fail with
 * EADDRNOTAVAIL. Wait for the interface (bounded), then bind; any other
 * error, or a loopback that never comes up, is fatal.
 */
static void bind_loopback(int fd, const struct sockaddr_in *a)
{
	struct timespec pause = { .tv_sec = 0, .tv_nsec = 200 * 1000 };
	for (long waited_us = 0;; waited_us += pause.tv_nsec / 1000) {
		if (bind(fd, (const struct sockaddr *)a, sizeof *a) == 0)
			return;
		if (errno != EADDRNOTAVAIL || waited_us >= LOOPBACK_WAIT_US)
			die("bind 127.0.0.1");
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 20 * 1000 * 1000)
			pause.tv_nsec *= 2;
	}
}

static void release(struct conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		close(c->client);
		close(c->upstream);
		free(c);
	}
}

/* One direction: from → pipe → to, until EOF or error; then half-close. */
static void *pump(void *arg)
{
	struct half *h = arg;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		shutdown(h->from, SHUT_RDWR);
		shutdown(h->to, SHUT_RDWR);
		release(h->c);
		free(h);
		return NULL;
	}
	fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
	bool ok = true;
	for (;;) {
		ssize_t n = splice(h->from, NULL, p[1], NULL, PIPE_SIZE, SPLICE_F_MOVE);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ok = false;
			break;
		}
		while (n > 0) {
			ssize_t m = splice(p[0], NULL, h->to, NULL, (size_t)n, SPLICE_F_MOVE);
			if (m < 0) {
				if (errno == EINTR)
					continue;
				ok = false;
				break;
			}
			n -= m;
		}
		if (!ok)
			break;
	}
	close(p[0]);
	close(p[1]);
	if (ok) {
		shutdown(h->to, SHUT_WR); /* pass the FIN on; the other direction keeps flowing */
	} else {
		/* A reset on either side tears down both directions. */
		shutdown(h->from, SHUT_RDWR);
		shutdown(h->to, SHUT_RDWR);
	}
	release(h->c);
	free(h);
	return NULL;
}

static int dial_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a.sun_path, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The session secret: one line on stdin, base64url characters only. */
static void read_secret(void)
{
	char buf[SECRET_MAX + 2];
	size_t n = 0;
	while (n < sizeof buf) {
		ssize_t r = read(STDIN_FILENO, buf + n, sizeof buf - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	char *nl = memchr(buf, '\n', n);
	size_t len = nl ? (size_t)(nl - buf) : 0;
	if (len == 0 || len > SECRET_MAX) {
		fputs("cordon-relay: expected the session secret as one line on stdin\n", stderr);
		exit(EXIT_RELAY);
	}
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			fputs("cordon-relay: the session secret must be base64url\n", stderr);
			exit(EXIT_RELAY);
		}
	}
	preamble_len = (size_t)snprintf(preamble, sizeof preamble, "CORDON/1 %.*s\n", (int)len, buf);
}

static void serve(int client, const char *socket_path, pthread_attr_t *attr)
{
	int up = dial_unix(socket_path);
	if (up < 0) {
		close(client);
		return;
	}
	if (!write_all(up, preamble, preamble_len)) {
		close(up);
		close(client);
		return;
	}
	int one = 1;
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct conn *c = calloc(1, sizeof *c);
	struct half *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	if (!c || !a || !b) {
		free(c), free(a), free(b);
		close(client), close(up);
		return;
	}
	c->client = client;
	c->upstream = up;
	atomic_store(&c->refs, 2);
	*a = (struct half){ c, client, up };
	*b = (struct half){ c, up, client };
	pthread_t t;
	if (pthread_create(&t, attr, pump, a) != 0) {
		free(a), free(b), free(c);
		close(client), close(up);
		return;
	}
	if (pthread_create(&t, attr, pump, b) != 0) {
		shutdown(client, SHUT_RDWR);
		shutdown(up, SHUT_RDWR);
		release(c);
		free(b);
	}
}

int main(int argc, char **argv)
{
	struct map maps[MAX_MAPS];
	int n = 0, pid = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc) {
			pid = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--map") == 0 && i + 1 < argc && n < MAX_MAPS) {
			char *spec = argv[++i], *eq = strchr(spec, '=');
			if (!eq)
				goto usage;
			*eq = '\0';
			maps[n].port = atoi(spec);
			maps[n].socket_path = eq + 1;
			if (maps[n].port < 1 || maps[n].port > 65535)
				goto usage;
			n++;
		} else {
			goto usage;
		}
	}
	if (pid <= 0 || n == 0)
		goto usage;

	read_secret();
	/* Dies with cordon; never outlives the run that started it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		exit(EXIT_RELAY);
	signal(SIGPIPE, SIG_IGN);
	join_sandbox_net(pid);

	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)maps[i].port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind_loopback(fd, &a);
		if (listen(fd, 512) < 0)
			die("listen");
		maps[i].listen_fd = fd;
	}
	if (write(STDOUT_FILENO, "ready\n", 6) != 6)
		die("write ready");

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	struct pollfd pfd[MAX_MAPS];
	for (int i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = maps[i].listen_fd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int c = accept4(maps[i].listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				serve(c, maps[i].socket_path, &attr);
		}
	}
usage:
	fputs("usage: cordon-relay --pid PID --map PORT=SOCKET [--map PORT=SOCKET]...\n", stderr);
	return EXIT_RELAY;
}
