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
 *   cordon-relay --pid PID --map PORT=SOCKET [--map PORT=SOCKET]... [--dial-port PORT] < secret
 *
 * Prints "ready\n" on stdout once every listener is up, then serves until
 * killed (cordon kills it when the sandbox exits; it also dies with cordon).
 * Each direction of each connection is a thread moving data with splice(2)
 * through a pipe, so bytes are not copied through user space; a FIN in one
 * direction is passed on with shutdown(SHUT_WR) while the other keeps going.
 *
 * --dial-port PORT (the HTTP proxy's port): CONNECT tunnels skip the proxy's
 * copying. The relay reads the request head (nothing else: it only looks for
 * "CONNECT " and the blank line), hands it to the proxy for the decision,
 * which answers "CORDON-DIAL <address> <port>" or a refusal for the client.
 * An allowed tunnel is dialed by a dialer process the relay forked before it
 * entered the sandbox's namespaces (so it dials from the host's network), and
 * the relay splices client and server directly. Anything else on that port
 * (plain HTTP, a head that never ends) goes to the proxy as before.
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
	atomic_long last_active; /* CLOCK_MONOTONIC seconds: the idle timeout counts both directions */
};

#define HEAD_MAX 16384
#define HANDSHAKE_MS 10000 /* a request head must arrive within this */
#define DECIDE_MS 30000 /* the proxy's decision (it may resolve a name) */
#define DIAL_MS 10000
#define IDLE_S 300 /* a tunnel with no byte either way for this long is cut */

static int dial_port;
static int dialer = -1; /* SOCK_SEQPACKET to the dialer process (host network) */
static char dial_preamble[SECRET_MAX + 16];
static size_t dial_preamble_len;

static long now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec;
}

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
		/* Idle: no byte in either direction for IDLE_S (the other pump's bytes count too). */
		struct pollfd pf = { .fd = h->from, .events = POLLIN };
		int r = poll(&pf, 1, 1000 * 30);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (now_s() - atomic_load(&h->c->last_active) < IDLE_S)
				continue;
			ok = false;
			break;
		}
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
		atomic_store(&h->c->last_active, now_s());
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

/* Both directions between client and up, each in a thread of its own. Takes both fds. */
static void start_pumps(int client, int up, pthread_attr_t *attr)
{
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
	atomic_store(&c->last_active, now_s());
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

/* To the proxy, as a plain relayed connection: preamble, then `head` (bytes already read), then splice. */
static void serve(int client, const char *socket_path, const char *head, size_t head_len, pthread_attr_t *attr)
{
	int up = dial_unix(socket_path);
	if (up < 0) {
		close(client);
		return;
	}
	if (!write_all(up, preamble, preamble_len) || (head_len && !write_all(up, head, head_len))) {
		close(up);
		close(client);
		return;
	}
	start_pumps(client, up, attr);
}

/* ------------------------------------------------------------ dialing -- */

struct dial_req {
	char address[INET6_ADDRSTRLEN];
	uint16_t port;
};

static bool send_with_fd(int over, const void *data, size_t len, int fd)
{
	struct iovec iov = { (void *)data, len };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	memset(&u, 0, sizeof u);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	ssize_t n;
	do
		n = sendmsg(over, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len;
}

/* Receives exactly `len` bytes and at most one fd (-1 if none). */
static bool recv_with_fd(int over, void *data, size_t len, int *fd)
{
	struct iovec iov = { data, len };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	ssize_t n;
	do
		n = recvmsg(over, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*fd = -1;
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof *fd);
	return n == (ssize_t)len;
}

/* In the dialer (host network): connect to the request's address within DIAL_MS; 0 or an errno. */
static int dial_tcp(const struct dial_req *r, int *out)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t len;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, r->address, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(r->port);
		len = sizeof *v4;
	} else if (inet_pton(AF_INET6, r->address, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(r->port);
		len = sizeof *v6;
	} else {
		return EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return e;
	}
	struct pollfd pf = { .fd = fd, .events = POLLOUT };
	int pr;
	do
		pr = poll(&pf, 1, DIAL_MS);
	while (pr < 0 && errno == EINTR);
	int err = 0;
	socklen_t el = sizeof err;
	if (pr == 0)
		err = ETIMEDOUT;
	else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		close(fd);
		return err;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*out = fd;
	return 0;
}

struct dial_job {
	struct dial_req req;
	int reply;
};

static void *dial_job(void *arg)
{
	struct dial_job *j = arg;
	int fd = -1;
	int err = dial_tcp(&j->req, &fd);
	send_with_fd(j->reply, &err, sizeof err, fd);
	if (fd >= 0)
		close(fd);
	close(j->reply);
	free(j);
	return NULL;
}

/*
 * The dialer: forked before the relay enters the sandbox's namespaces, so its
 * sockets belong to the host's network. It dials only what the relay asks,
 * which is only what the proxy allowed; each request brings its own reply
 * socket, so slow dials run side by side.
 */
static void run_dialer(int sock)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Not cordon's pipes: the relay's stdout tells cordon it is ready, and is the relay's alone. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (;;) {
		struct dial_job *j = malloc(sizeof *j);
		if (!j)
			_exit(EXIT_RELAY);
		if (!recv_with_fd(sock, &j->req, sizeof j->req, &j->reply)) {
			if (j->reply >= 0)
				close(j->reply);
			free(j);
			/* 0 bytes: the relay is gone. */
			struct pollfd pf = { .fd = sock, .events = POLLIN };
			if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR)))
				_exit(0);
			continue;
		}
		j->req.address[sizeof j->req.address - 1] = 0;
		pthread_t t;
		if (j->reply < 0 || pthread_create(&t, &attr, dial_job, j) != 0) {
			if (j->reply >= 0)
				close(j->reply);
			free(j);
		}
	}
}

static int ask_dialer(const char *address, uint16_t port, int *err)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		*err = errno;
		return -1;
	}
	struct dial_req r = { .port = port };
	snprintf(r.address, sizeof r.address, "%s", address);
	int fd = -1;
	*err = EIO;
	if (send_with_fd(dialer, &r, sizeof r, pair[1])) {
		close(pair[1]);
		pair[1] = -1;
		int e = EIO;
		if (recv_with_fd(pair[0], &e, sizeof e, &fd))
			*err = e;
	}
	close(pair[0]);
	if (pair[1] >= 0)
		close(pair[1]);
	if (*err && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* ------------------------------------------------------ CONNECT intake -- */

struct intake {
	int client;
	const char *socket_path;
	pthread_attr_t *attr;
};

/* Reads until `end` appears, EOF, `max` bytes or `ms` pass; returns the count (the marker's end in *at, or 0). */
static size_t read_until(int fd, char *buf, size_t max, const char *end, int ms, size_t *at)
{
	size_t n = 0, elen = strlen(end);
	*at = 0;
	long deadline = now_s() * 1000 + ms;
	while (n < max) {
		long left = deadline - now_s() * 1000;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, left > 0 ? (int)left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t got = recv(fd, buf + n, max - n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (elen) {
			char *hit = memmem(buf, n, end, elen);
			if (hit) {
				*at = (size_t)(hit - buf) + elen;
				break;
			}
		}
	}
	return n;
}

static void refuse_502(int client, int err)
{
	char body[256], msg[512];
	int bl = snprintf(body, sizeof body, "cordon: the allowed destination could not be reached: %s\n", strerror(err));
	int ml = snprintf(msg, sizeof msg,
			  "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
			  "X-Cordon-Reason: upstream-failed\r\nConnection: close\r\n\r\n%s", bl, body);
	write_all(client, msg, (size_t)ml);
}

static void *intake(void *arg)
{
	struct intake *in = arg;
	int client = in->client;
	char *buf = malloc(HEAD_MAX);
	if (!buf) {
		close(client);
		free(in);
		return NULL;
	}
	size_t at;
	size_t n = read_until(client, buf, HEAD_MAX, "\r\n\r\n", HANDSHAKE_MS, &at);
	if (!at || n < 8 || memcmp(buf, "CONNECT ", 8) != 0) {
		/* Not a CONNECT (or not a whole head): the proxy deals with it, bytes and all. */
		serve(client, in->socket_path, buf, n, in->attr);
		goto out;
	}
	int up = dial_unix(in->socket_path);
	if (up < 0 || !write_all(up, dial_preamble, dial_preamble_len) || !write_all(up, buf, at)) {
		if (up >= 0)
			close(up);
		close(client);
		goto out;
	}
	char answer[4096];
	size_t aat;
	size_t an = read_until(up, answer, sizeof answer - 1, "", DECIDE_MS, &aat);
	answer[an] = 0;
	char address[INET6_ADDRSTRLEN];
	unsigned port = 0;
	if (an > 12 && memcmp(answer, "CORDON-DIAL ", 12) == 0 &&
	    sscanf(answer + 12, "%45s %u", address, &port) == 2 && port > 0 && port < 65536) {
		close(up);
		int err;
		int server = ask_dialer(address, (uint16_t)port, &err);
		if (server < 0) {
			refuse_502(client, err);
			close(client);
			goto out;
		}
		static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
		if (!write_all(client, ok, sizeof ok - 1) || (n > at && !write_all(server, buf + at, n - at))) {
			close(server);
			close(client);
			goto out;
		}
		start_pumps(client, server, in->attr);
		goto out;
	}
	/* A refusal (or anything else): the proxy's answer goes to the client as it is, however long. */
	if (an && write_all(client, answer, an) && an == sizeof answer - 1) {
		for (;;) {
			an = read_until(up, answer, sizeof answer, "", DECIDE_MS, &aat);
			if (an == 0 || !write_all(client, answer, an))
				break;
		}
	}
	close(up);
	close(client);
out:
	free(buf);
	free(in);
	return NULL;
}

int main(int argc, char **argv)
{
	struct map maps[MAX_MAPS];
	int n = 0, pid = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc) {
			pid = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--dial-port") == 0 && i + 1 < argc) {
			dial_port = atoi(argv[++i]);
			if (dial_port < 1 || dial_port > 65535)
				goto usage;
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
	if (dial_port) {
		dial_preamble_len = (size_t)snprintf(dial_preamble, sizeof dial_preamble, "CORDON/D %s", preamble + strlen("CORDON/1 "));
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
			die("socketpair");
		pid_t d = fork();
		if (d < 0)
			die("fork");
		if (d == 0) {
			close(pair[0]);
			run_dialer(pair[1]);
		}
		close(pair[1]);
		dialer = pair[0];
	}
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
			if (c < 0)
				continue;
			if (maps[i].port != dial_port) {
				serve(c, maps[i].socket_path, NULL, 0, &attr);
				continue;
			}
			struct intake *in = malloc(sizeof *in);
			pthread_t t;
			if (!in) {
				close(c);
				continue;
			}
			*in = (struct intake){ c, maps[i].socket_path, &attr };
			if (pthread_create(&t, &attr, intake, in) != 0) {
				close(c);
				free(in);
			}
		}
	}
usage:
	fputs("usage: cordon-relay --pid PID --map PORT=SOCKET [--map PORT=SOCKET]... [--dial-port PORT]\n", stderr);
	return EXIT_RELAY;
}
