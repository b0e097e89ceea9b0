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
 * bytes from the sandbox are copied, never interpreted: the relay only finds
 * where a request head ends (the blank line) and hands the head to the proxy,
 * which parses and judges it. Response framing from servers is read strictly
 * (http1.h), only to count bytes.
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
 * entered the sandbox's namespaces (so it dials from the host's network). The
 * client's first bytes in the tunnel then go to the proxy too, which checks
 * that the name they carry (TLS server name, HTTP Host) is the tunnel's
 * (tunnel_verdict); once it says so, the relay splices client and server
 * directly. Plain HTTP in a tunnel is served by the proxy instead. A tunnel
 * the proxy opens itself (TLS termination) is answered "CORDON-SERVE": the
 * relay answers the client 200 and splices it into that proxy connection,
 * dialing nothing. Plain-HTTP requests are
 * judged the same way and then sent by the relay itself (see "plain-HTTP
 * requests" below). What the relay does not frame (a head that never ends,
 * bare-LF lines, HEAD, chunked request bodies, HTTP/1.0) goes to the proxy
 * as before, bytes and all.
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

#include "http1.h"
#include "io.h"
/* Generated from native/protocol.json (scripts/build-native.mjs): the preambles, header names and exit code cordon's TypeScript uses too. */
#include "cordon-protocol.h"
#include "relay-lines.h"

#define EXIT_RELAY CORDON_EXIT_FAILURE
#define MAX_MAPS 8
#define PIPE_SIZE (1 << 20)
#define SECRET_MAX 128
/* How long to wait for the sandbox's loopback interface to come up. */
#define LOOPBACK_WAIT_US (5L * 1000 * 1000)

static char preamble[SECRET_MAX + 16];
static char secret[SECRET_MAX + 1]; /* also in a tunnel's byte count, which the sandbox cannot forge without it */
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
	atomic_llong sent[2]; /* bytes moved: [0] client to upstream, [1] upstream to client */
	int report; /* the proxy's connection that decided this tunnel: told the byte counts at the end (-1: none) */
};

/*
 * At most MAX_CONNS client connections at once: past it the relay stops
 * accepting (they wait in the listen backlog) instead of making threads and
 * descriptors without bound. A client connection's slot is given back where
 * its descriptor is closed (close_client).
 */
#define MAX_CONNS 1024
static atomic_int live_conns;

static void close_client(int fd)
{
	close(fd);
	atomic_fetch_sub(&live_conns, 1);
}

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

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
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

/* The last pump's release() also tells the proxy the tunnel's byte counts. */
static void release(struct conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		close_client(c->client);
		close(c->upstream);
		if (c->report >= 0) {
			/* The secret first: the proxy may still hold client bytes sent on this connection before its verdict, and none of them can carry it. */
			char line[SECRET_MAX + 80];
			int n = snprintf(line, sizeof line, CORDON_RELAY_TUNNEL_DONE "%s %lld %lld\r\n", secret, (long long)atomic_load(&c->sent[0]), (long long)atomic_load(&c->sent[1]));
			write_all(c->report, line, (size_t)n);
			close(c->report);
		}
		free(c);
	}
}

/* Moves exactly n bytes that are in the pipe (read end p0) to `to`. */
static bool drain_pipe(int p0, int to, size_t n)
{
	while (n > 0) {
		ssize_t m = splice(p0, NULL, to, NULL, n, SPLICE_F_MOVE);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			return false;
		n -= (size_t)m;
	}
	return true;
}

/*
 * Sockets the relay splices from wake up every IDLE_CHECK_S without data
 * (SO_RCVTIMEO), so a blocking splice needs no poll before it and the idle
 * timeout is still checked.
 */
#define IDLE_CHECK_S 30
static void set_idle_check(int fd)
{
	struct timeval tv = { .tv_sec = IDLE_CHECK_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Up to n bytes from socket `from` into the pipe: >0, 0 at EOF, -1 on error or once idle for IDLE_S. */
static ssize_t splice_in(int from, int p1, size_t n, atomic_long *last_active)
{
	for (;;) {
		ssize_t got = splice(from, NULL, p1, NULL, n, SPLICE_F_MOVE);
		if (got >= 0)
			return got;
		if (errno == EINTR || (errno == EAGAIN && now_s() - atomic_load(last_active) < IDLE_S))
			continue;
		return -1;
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
		ssize_t n = splice_in(h->from, p[1], PIPE_SIZE, &h->c->last_active);
		if (n == 0)
			break;
		if (n < 0) {
			ok = false;
			break;
		}
		if (!drain_pipe(p[0], h->to, (size_t)n)) {
			ok = false;
			break;
		}
		atomic_fetch_add(&h->c->sent[h->from == h->c->client ? 0 : 1], n);
		atomic_store(&h->c->last_active, now_s());
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
	preamble_len = (size_t)snprintf(preamble, sizeof preamble, CORDON_RELAY_PREAMBLE "%.*s\n", (int)len, buf);
	snprintf(secret, sizeof secret, "%.*s", (int)len, buf);
}

/*
 * Both directions between client and up, each in a thread of its own. Takes
 * both fds, and `report` (-1: none): where the byte counts go at the end
 * (CORDON-DONE <secret> <client to up> <up to client>; `already_up` and
 * `already_down` bytes were passed on each way before), then closed.
 */
static void start_pumps(int client, int up, pthread_attr_t *attr, int report, long long already_up, long long already_down)
{
	int one = 1;
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	set_idle_check(client);
	set_idle_check(up);
	struct conn *c = calloc(1, sizeof *c);
	struct half *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	if (!c || !a || !b) {
		free(c), free(a), free(b);
		close_client(client), close(up);
		if (report >= 0)
			close(report);
		return;
	}
	c->client = client;
	c->upstream = up;
	c->report = report;
	atomic_store(&c->sent[0], already_up);
	atomic_store(&c->sent[1], already_down);
	atomic_store(&c->refs, 2);
	atomic_store(&c->last_active, now_s());
	*a = (struct half){ c, client, up };
	*b = (struct half){ c, up, client };
	pthread_t t;
	if (pthread_create(&t, attr, pump, a) != 0) {
		free(a), free(b), free(c);
		close_client(client), close(up);
		if (report >= 0)
			close(report);
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
		close_client(client);
		return;
	}
	if (!write_all(up, preamble, preamble_len) || (head_len && !write_all(up, head, head_len))) {
		close(up);
		close_client(client);
		return;
	}
	start_pumps(client, up, attr, -1, 0, 0);
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

static void refuse_502(int client, int err)
{
	char body[256], msg[512];
	int bl = snprintf(body, sizeof body, "cordon: the allowed destination could not be reached: %s\n", strerror(err));
	int ml = snprintf(msg, sizeof msg,
			  "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
			  CORDON_HEADER_REASON ": upstream-failed\r\nConnection: close\r\n\r\n%s", bl, body);
	write_all(client, msg, (size_t)ml);
}

/* ------------------------------------------------- plain-HTTP requests -- */

/*
 * Plain-HTTP requests on the dial port skip the proxy's copying too. For
 * each request head the relay asks the proxy (on a dial-mode connection kept
 * per client connection), which judges it exactly as before and answers with
 * an HTTP response:
 *   200 + `X-Cordon-Forward: <address> <port> <body length>`: send the body
 *       (the rewritten head, origin-form, hop-by-hop headers removed) to that
 *       address, then the request's body of exactly that many bytes;
 *   200 + `X-Cordon-Route: proxy`: not for the relay (HEAD, chunked bodies,
 *       upgrades, HTTP/1.0): the connection goes to the proxy, bytes and all;
 *   anything else: a refusal, passed to the client as it is.
 * The relay never reads a header the proxy did not rewrite, except in
 * responses, where it only finds where each one ends (http1.h) so that it
 * knows when it may switch the upstream connection to another destination.
 * One upstream connection at a time per client connection, reused while the
 * client's requests go to the same address, like the proxy's own agents.
 */

#define RBUF_SIZE 32768 /* a head (the proxy takes 16 KiB), or what is buffered of a body */
#define PIPELINE_MAX 64 /* requests sent upstream and not yet answered */
#define LINE_MAX_LEN 8192 /* a chunk-size or trailer line */

struct rbuf {
	size_t off, len;
	char data[RBUF_SIZE];
};

struct fwd {
	int client, up, decide;
	const char *socket_path;
	struct rbuf *in; /* bytes from the client */
	struct rbuf *dec; /* bytes from the proxy's decisions */
	int body_pipe[2]; /* request bodies, client → upstream */
	char up_address[INET6_ADDRSTRLEN];
	unsigned up_port;
	pthread_t reader; /* upstream → client, one per upstream connection */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned pending; /* requests sent whose response has not ended */
	bool up_done; /* the reader ended: this upstream takes no more requests */
	bool closing; /* its answer in hand says the server closes after it: no request joins it */
	atomic_long last_active;
	/* The proxy's ids of the requests sent and not yet answered, in order (0: none to report). */
	unsigned long long ids[PIPELINE_MAX];
	unsigned id_first, id_count;
	unsigned long long down; /* body bytes of the response being passed on */
	int report; /* CORDON/R connection to the proxy: each response's status and size (-1: none yet, or it failed) */
};

static void rbuf_consume(struct rbuf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

static void touch(struct fwd *f)
{
	atomic_store(&f->last_active, now_s());
}

/* Until fd is readable: by `deadline` (monotonic ms) if set (then `f` may be NULL), else while `f` is not idle. */
static bool wait_readable(int fd, struct fwd *f, long deadline)
{
	for (;;) {
		int wait = 30 * 1000;
		if (deadline) {
			long left = deadline - now_ms();
			if (left <= 0)
				return false;
			if (left < wait)
				wait = (int)left;
		}
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, wait);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		if (r == 0 && !deadline && now_s() - atomic_load(&f->last_active) >= IDLE_S)
			return false;
	}
}

/* One read into b: 1 bytes came, 0 EOF, -1 error, timeout or full. */
static int rbuf_fill(int fd, struct rbuf *b, struct fwd *f, long deadline)
{
	if (b->off + b->len == RBUF_SIZE) {
		if (b->len == RBUF_SIZE)
			return -1;
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	for (;;) {
		if (!wait_readable(fd, f, deadline))
			return -1;
		ssize_t got = recv(fd, b->data + b->off + b->len, RBUF_SIZE - b->off - b->len, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		b->len += (size_t)got;
		return got > 0;
	}
}

/*
 * Buffers until `marker` ends the bytes at b's front; *len counts them,
 * marker included. Before the first byte it waits by `deadline` (0: while the
 * connection is not idle); then the rest must come within HANDSHAKE_MS.
 * 1 found; 0 EOF before any byte; -1 error, timeout or EOF midway; -2 `max`
 * bytes without the marker.
 */
static int read_until_marker(int fd, struct rbuf *b, size_t max, const char *marker, struct fwd *f, long deadline, size_t *len)
{
	size_t ml = strlen(marker), scanned = 0;
	for (;;) {
		if (b->len) {
			if (!deadline)
				deadline = now_ms() + HANDSHAKE_MS;
			size_t from = scanned >= ml ? scanned - (ml - 1) : 0;
			char *hit = memmem(b->data + b->off + from, b->len - from, marker, ml);
			if (hit) {
				*len = (size_t)(hit - (b->data + b->off)) + ml;
				return 1;
			}
			scanned = b->len;
			if (b->len >= max)
				return -2;
		}
		int r = rbuf_fill(fd, b, f, deadline);
		if (r <= 0)
			return r == 0 && b->len == 0 ? 0 : -1;
	}
}

/* Exactly n bytes from `from` to `to`: what b holds first, then spliced through the pipe p. */
static bool forward_exact(int from, int to, unsigned long long n, struct rbuf *b, int p[2], struct fwd *f)
{
	if (to == f->client)
		f->down += n; /* a response's body (or one chunk of it): counted for the proxy's report */
	size_t take = b->len < n ? b->len : (size_t)n;
	if (take) {
		if (!write_all(to, b->data + b->off, take))
			return false;
		rbuf_consume(b, take);
		n -= take;
	}
	while (n > 0) {
		ssize_t got = splice_in(from, p[1], n < PIPE_SIZE ? (size_t)n : PIPE_SIZE, &f->last_active);
		if (got <= 0 || !drain_pipe(p[0], to, (size_t)got))
			return false;
		n -= (unsigned long long)got;
		touch(f);
	}
	return true;
}

/* Everything until `from` closes. */
static bool forward_to_eof(int from, int to, struct rbuf *b, int p[2], struct fwd *f)
{
	if (b->len && !write_all(to, b->data + b->off, b->len))
		return false;
	f->down += b->len;
	rbuf_consume(b, b->len);
	for (;;) {
		ssize_t got = splice_in(from, p[1], PIPE_SIZE, &f->last_active);
		if (got == 0)
			return true;
		if (got < 0 || !drain_pipe(p[0], to, (size_t)got))
			return false;
		f->down += (unsigned long long)got;
		touch(f);
	}
}

/* Buffers one CRLF-ended line (no other CR, LF or NUL) at b's front; *len counts it, CRLF included. */
static bool read_line(int from, struct rbuf *b, struct fwd *f, size_t *len)
{
	if (read_until_marker(from, b, LINE_MAX_LEN, "\r\n", f, 0, len) != 1)
		return false;
	const char *l = b->data + b->off;
	for (size_t i = 0; i + 2 < *len; i++)
		if (l[i] == '\r' || l[i] == '\n' || l[i] == '\0')
			return false;
	return true;
}

/* A chunked body: size lines, data, the last chunk and trailers, all passed on as they are. */
static bool forward_chunked(int from, int to, struct rbuf *b, int p[2], struct fwd *f)
{
	for (;;) {
		size_t ll;
		unsigned long long size;
		if (!read_line(from, b, f, &ll) || !http1_parse_chunk_size(b->data + b->off, ll - 2, &size) ||
		    !write_all(to, b->data + b->off, ll))
			return false;
		rbuf_consume(b, ll);
		if (size == 0)
			break;
		if (!forward_exact(from, to, size, b, p, f) || !read_line(from, b, f, &ll) || ll != 2 ||
		    !write_all(to, "\r\n", 2))
			return false;
		rbuf_consume(b, ll);
	}
	for (;;) { /* trailers, up to the empty line */
		size_t ll;
		if (!read_line(from, b, f, &ll) || !write_all(to, b->data + b->off, ll))
			return false;
		rbuf_consume(b, ll);
		if (ll == 2)
			return true;
	}
}

/*
 * Tells the proxy what the response to its request `id` was: `<id> <status>
 * <body bytes>\r\n` on a connection of its own (preamble CORDON/R), opened
 * at the first report and kept for the client connection's life. Only the
 * response reader writes it, one reader at a time. A report that cannot be
 * written is dropped, and so are the later ones: the traffic goes on.
 */
static void report_response(struct fwd *f, unsigned long long id, int status, unsigned long long down)
{
	if (id == 0 || f->report == -2)
		return;
	if (f->report < 0) {
		f->report = dial_unix(f->socket_path);
		char pre[SECRET_MAX + 16];
		int pl = snprintf(pre, sizeof pre, CORDON_RELAY_REPORT_PREAMBLE "%s\n", secret);
		if (f->report < 0 || !write_all(f->report, pre, (size_t)pl)) {
			if (f->report >= 0)
				close(f->report);
			f->report = -2;
			return;
		}
	}
	char line[80];
	int n = snprintf(line, sizeof line, "%llu %d %llu\r\n", id, status, down);
	if (!write_all(f->report, line, (size_t)n)) {
		close(f->report);
		f->report = -2;
	}
}

/* The upstream → client half: each response, framed, in the order the requests went. */
static void *response_reader(void *arg)
{
	struct fwd *f = arg;
	struct rbuf *b = malloc(sizeof *b);
	int p[2] = { -1, -1 };
	bool end_client = true;
	if (!b || pipe2(p, O_CLOEXEC) < 0)
		goto done;
	fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
	b->off = b->len = 0;
	for (;;) {
		size_t hl;
		int r = read_until_marker(f->up, b, RBUF_SIZE, "\r\n\r\n", f, 0, &hl);
		pthread_mutex_lock(&f->mu);
		unsigned pending = f->pending;
		pthread_mutex_unlock(&f->mu);
		if (r == 0 && pending == 0) {
			end_client = false; /* the server closed an idle connection: the next request dials again */
			break;
		}
		/* Closed midway, failed, unframeable, or an answer nobody asked for: the client sees the close. */
		struct response_head h;
		if (r != 1 || pending == 0 || !http1_parse_response(b->data + b->off, hl, &h) || h.status == 101)
			break;
		if (h.status >= 200 && (h.close || h.body == BODY_CLOSE)) {
			/* Before the client has this answer, after which it may send its next request at once:
			 * that one must dial again, not join a connection the server is closing. */
			pthread_mutex_lock(&f->mu);
			f->closing = true;
			pthread_mutex_unlock(&f->mu);
		}
		if (!write_all(f->client, b->data + b->off, hl))
			break;
		rbuf_consume(b, hl);
		touch(f);
		if (h.status < 200)
			continue; /* interim (100 Continue, 103): the final answer follows */
		f->down = 0;
		bool ok = h.body == BODY_NONE	 ? true :
			  h.body == BODY_LENGTH	 ? forward_exact(f->up, f->client, h.length, b, p, f) :
			  h.body == BODY_CHUNKED ? forward_chunked(f->up, f->client, b, p, f) :
						   forward_to_eof(f->up, f->client, b, p, f);
		if (!ok)
			break;
		pthread_mutex_lock(&f->mu);
		f->pending--;
		/* Pushed with each pending++ (claim_upstream): there is one for this response. */
		unsigned long long id = f->ids[f->id_first];
		f->id_first = (f->id_first + 1) % PIPELINE_MAX;
		f->id_count--;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		report_response(f, id, h.status, f->down);
		if (h.body == BODY_CLOSE)
			break; /* that body ended with the server's close: the client learns it the same way */
		if (h.close) {
			end_client = false; /* unless requests are still waiting for an answer (below) */
			break;
		}
	}
done:
	pthread_mutex_lock(&f->mu);
	f->up_done = true;
	if (f->pending > 0)
		end_client = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (end_client)
		shutdown(f->client, SHUT_RDWR); /* after what was written; wakes the request side */
	if (p[0] >= 0)
		close(p[0]), close(p[1]);
	free(b);
	return NULL;
}

/* Waits until every request sent upstream has its answer (or the upstream is gone); false if the client must end. */
static bool wait_answers(struct fwd *f)
{
	pthread_mutex_lock(&f->mu);
	while (f->pending > 0 && !f->up_done)
		pthread_cond_wait(&f->cv, &f->mu);
	bool ok = f->pending == 0;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

static void drop_upstream(struct fwd *f)
{
	if (f->up < 0)
		return;
	shutdown(f->up, SHUT_RDWR);
	pthread_join(f->reader, NULL);
	close(f->up);
	f->up = -1;
}

/*
 * Registers the next request on an upstream connection to address:port,
 * reusing the current one when it goes there and still takes requests; else
 * waits for the current one's answers and dials. 0, or an errno for the 502.
 * -1: the client's connection must end.
 */
static int claim_upstream(struct fwd *f, const char *address, unsigned port, unsigned long long id)
{
	for (int tries = 0; tries < 2; tries++) {
		if (f->up >= 0 && f->up_port == port && strcmp(f->up_address, address) == 0) {
			pthread_mutex_lock(&f->mu);
			while (f->pending == PIPELINE_MAX && !f->up_done)
				pthread_cond_wait(&f->cv, &f->mu);
			bool open = !f->up_done && !f->closing;
			if (open) {
				/* Its id with it, in the same step: the reader pairs each response with the id in front. */
				f->pending++;
				f->ids[(f->id_first + f->id_count) % PIPELINE_MAX] = id;
				f->id_count++;
			}
			pthread_mutex_unlock(&f->mu);
			if (open)
				return 0;
		}
		if (!wait_answers(f))
			return -1;
		drop_upstream(f);
		int err;
		int up = ask_dialer(address, (uint16_t)port, &err);
		if (up < 0)
			return err ? err : EIO;
		set_idle_check(up);
		f->up = up;
		snprintf(f->up_address, sizeof f->up_address, "%s", address);
		f->up_port = port;
		f->pending = 0;
		f->id_first = f->id_count = 0;
		f->up_done = false;
		f->closing = false;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		int e = pthread_create(&f->reader, &attr, response_reader, f);
		pthread_attr_destroy(&attr);
		if (e != 0) {
			close(f->up);
			f->up = -1;
			return -1;
		}
	}
	return -1;
}

enum ask { ASK_FAILED, ASK_FORWARD, ASK_ROUTE, ASK_REFUSED };

struct answer {
	char address[INET6_ADDRSTRLEN];
	unsigned port;
	unsigned long long body; /* the request body's length */
	unsigned long long id; /* the proxy's id of the request, for its report (0: none) */
	const char *bytes; /* FORWARD: the rewritten head; REFUSED: the whole response */
	size_t len;
	size_t used; /* what to consume from f->dec afterwards */
};

static void drop_decide(struct fwd *f)
{
	if (f->decide >= 0)
		close(f->decide);
	f->decide = -1;
	f->dec->off = f->dec->len = 0;
}

/* The proxy's decision on one request head. */
static enum ask ask_proxy(struct fwd *f, const char *head, size_t hl, struct answer *a)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = f->decide >= 0;
		if (!reused) {
			f->decide = dial_unix(f->socket_path);
			if (f->decide < 0 || !write_all(f->decide, dial_preamble, dial_preamble_len)) {
				drop_decide(f);
				return ASK_FAILED;
			}
		}
		size_t ah;
		int r = write_all(f->decide, head, hl) ? read_until_marker(f->decide, f->dec, RBUF_SIZE, "\r\n\r\n", f, now_ms() + DECIDE_MS, &ah) : 0;
		if (r != 1) {
			bool nothing = f->dec->len == 0;
			drop_decide(f);
			if (reused && nothing && r != -2)
				continue; /* the proxy closed the kept connection meanwhile: once more on a new one */
			return ASK_FAILED;
		}
		const char *ans = f->dec->data + f->dec->off;
		bool ok = ah > 13 && memcmp(ans, "HTTP/1.1 200 ", 13) == 0;
		size_t vl;
		int count;
		unsigned long long clen;
		const char *cl = http1_header(ans, ah, "content-length", &vl, &count);
		long deadline = now_ms() + DECIDE_MS;
		if (!cl || count != 1 || !http1_parse_length(cl, vl, &clen) || clen > RBUF_SIZE - ah) {
			if (ok) {
				drop_decide(f);
				return ASK_FAILED;
			}
			/* A refusal without a length (the proxy parser's own 400): all of it, until the proxy closes. */
			while (rbuf_fill(f->decide, f->dec, f, deadline) == 1)
				;
			a->bytes = f->dec->data + f->dec->off;
			a->len = a->used = f->dec->len;
			return ASK_REFUSED;
		}
		while (f->dec->len < ah + clen)
			if (rbuf_fill(f->decide, f->dec, f, deadline) != 1) {
				drop_decide(f);
				return ASK_FAILED;
			}
		ans = f->dec->data + f->dec->off;
		a->used = ah + (size_t)clen;
		if (f->dec->len != a->used) { /* one head, one answer: anything more is a desync */
			drop_decide(f);
			return ASK_FAILED;
		}
		const char *fw = ok ? http1_header(ans, ah, CORDON_HEADER_FORWARD, &vl, &count) : NULL;
		if (fw) {
			char spec[128];
			snprintf(spec, sizeof spec, "%.*s", (int)(vl < sizeof spec - 1 ? vl : sizeof spec - 1), fw);
			a->id = 0;
			int fields = sscanf(spec, "%45s %u %llu %llu", a->address, &a->port, &a->body, &a->id);
			if ((fields != 3 && fields != 4) || a->port == 0 || a->port > 65535) {
				drop_decide(f);
				return ASK_FAILED;
			}
			a->bytes = ans + ah;
			a->len = (size_t)clen;
			return ASK_FORWARD;
		}
		if (ok && http1_header(ans, ah, CORDON_HEADER_ROUTE, &vl, &count)) {
			drop_decide(f); /* the proxy may be waiting for a body on it */
			return ASK_ROUTE;
		}
		a->bytes = ans;
		a->len = a->used;
		return ASK_REFUSED;
	}
	return ASK_FAILED;
}

/*
 * Serves a client connection whose first request head (not CONNECT) is at
 * the front of `in`, which it takes. Runs in the intake thread, which it
 * takes over.
 */
static void forward_http(int client, const char *socket_path, struct rbuf *in, pthread_attr_t *attr)
{
	struct fwd *f = calloc(1, sizeof *f);
	if (!f || !(f->dec = malloc(sizeof *f->dec)) || pipe2(f->body_pipe, O_CLOEXEC) < 0) {
		if (f)
			free(f->dec);
		free(f);
		free(in);
		close_client(client);
		return;
	}
	f->in = in;
	fcntl(f->body_pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	f->client = client;
	f->up = f->decide = -1;
	f->report = -1;
	f->socket_path = socket_path;
	f->dec->off = f->dec->len = 0;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	touch(f);
	int one = 1;
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	set_idle_check(client);
	bool handed = false;
	for (;;) {
		size_t hl;
		int r = read_until_marker(client, f->in, HEAD_MAX, "\r\n\r\n", f, 0, &hl);
		if (r == 0) { /* the client is done sending: its answers still go out */
			wait_answers(f);
			break;
		}
		const char *head = f->in->data + f->in->off;
		struct answer a;
		enum ask kind;
		if (r == -2 || (r == 1 && !relay_plain_head(head, hl)))
			kind = ASK_ROUTE; /* too long, a CONNECT, or lines the relay does not frame: the proxy's */
		else if (r != 1)
			kind = ASK_FAILED;
		else
			kind = ask_proxy(f, head, hl, &a);
		if (kind == ASK_FAILED)
			break;
		if (kind == ASK_ROUTE) {
			/* The proxy serves the rest of this connection itself, once the answers so far are out. */
			if (!wait_answers(f))
				break;
			drop_upstream(f);
			serve(client, socket_path, f->in->data + f->in->off, f->in->len, attr);
			handed = true;
			break;
		}
		if (kind == ASK_REFUSED) {
			if (wait_answers(f))
				write_all(client, a.bytes, a.len);
			drop_decide(f); /* the proxy closes after a refusal */
			break;
		}
		int e = claim_upstream(f, a.address, a.port, a.id);
		if (e != 0) {
			if (e > 0)
				refuse_502(client, e);
			break;
		}
		bool sent = write_all(f->up, a.bytes, a.len);
		rbuf_consume(f->dec, a.used);
		rbuf_consume(f->in, hl);
		if (a.body > 0)
			drop_decide(f); /* the proxy would wait for a body it never gets */
		if (!sent || !forward_exact(client, f->up, a.body, f->in, f->body_pipe, f))
			break;
		touch(f);
	}
	if (!handed)
		shutdown(client, SHUT_RDWR);
	drop_upstream(f);
	if (!handed)
		close_client(client);
	drop_decide(f);
	if (f->report >= 0)
		close(f->report);
	close(f->body_pipe[0]);
	close(f->body_pipe[1]);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->in);
	free(f->dec);
	free(f);
}

/* ----------------------------------------------- names in a tunnel -- */

enum verdict { V_STOP, V_GO, V_ROUTE };

/*
 * The name check of an allowed tunnel (the proxy's, src/proxy/first-bytes.ts):
 * the client's first bytes (`held`, some perhaps read already) go to the
 * proxy on `decide`, and are kept for the server, until the proxy answers
 * GO (splice), ROUTE (plain HTTP: the proxy serves the rest on `decide`) or
 * anything else (close). PASS <n> first sends the n oldest held bytes to
 * the server (a cleartext request for TLS) and goes on reading. At most PEEK_MAX bytes are held, for at most
 * HANDSHAKE_MS. Meanwhile the server's bytes go to the client, for the
 * protocols where the server speaks first. `ans` keeps what the proxy sent
 * after its answer line. `moved` counts the bytes passed on meanwhile, each
 * way (client to server, server to client).
 */
static enum verdict tunnel_verdict(int client, int server, int decide, struct rbuf *held, struct rbuf *ans, long long moved[2])
{
	long deadline = now_ms() + HANDSHAKE_MS;
	bool client_open = true;
	char buf[16384];
	size_t pend_off = 0, pend_len = 0; /* server bytes the client has not taken yet (never a blocking write) */
	if (held->len > CORDON_RELAY_PEEK_MAX || (held->len && !write_all(decide, held->data + held->off, held->len)))
		return V_STOP;
	enum verdict decided = V_STOP;
	bool answered = false;
	for (;;) {
		char *a = ans->data + ans->off;
		char *nl = answered ? NULL : memmem(a, ans->len, "\r\n", 2);
		if (nl) {
			size_t ll = (size_t)(nl - a), n = 0;
			enum tunnel_answer t = relay_tunnel_answer(a, ll, held->len, &n);
			rbuf_consume(ans, ll + 2);
			if (t == ANSWER_PASS) {
				/* A preamble (Postgres asking for TLS): its bytes go to the server, and the reading goes on. */
				if (!write_all(server, held->data + held->off, n))
					return V_STOP;
				moved[0] += (long long)n;
				rbuf_consume(held, n);
				continue;
			}
			decided = t == ANSWER_GO ? V_GO : t == ANSWER_ROUTE ? V_ROUTE : V_STOP;
			answered = true;
			if (decided == V_STOP)
				return V_STOP;
		}
		/* Answered, and the server's bytes so far are with the client: nothing is lost at the switch. */
		if (answered && pend_len == 0)
			return decided;
		if (!answered && ans->len >= 256)
			return V_STOP;
		long left = deadline - now_ms();
		if (left <= 0)
			return V_STOP;
		bool take_client = !answered && client_open && held->len < CORDON_RELAY_PEEK_MAX;
		short client_events = (short)((take_client ? POLLIN : 0) | (pend_len ? POLLOUT : 0));
		struct pollfd p[3] = {
			{ .fd = answered ? -1 : decide, .events = POLLIN },
			{ .fd = client_events ? client : -1, .events = client_events },
			{ .fd = pend_len || answered ? -1 : server, .events = POLLIN },
		};
		int r = poll(p, 3, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return V_STOP;
		if (p[0].revents) {
			if (ans->off + ans->len == RBUF_SIZE)
				return V_STOP;
			ssize_t n = recv(decide, ans->data + ans->off + ans->len, RBUF_SIZE - ans->off - ans->len, 0);
			if (n <= 0)
				return V_STOP;
			ans->len += (size_t)n;
			continue; /* the answer first: no byte of the client's after it is looked at */
		}
		if (pend_len && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = send(client, buf + pend_off, pend_len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return V_STOP;
			if (n > 0)
				pend_off += (size_t)n, pend_len -= (size_t)n, moved[1] += n;
		}
		if (take_client && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
			if (held->off + held->len + (CORDON_RELAY_PEEK_MAX - held->len) > RBUF_SIZE) {
				memmove(held->data, held->data + held->off, held->len);
				held->off = 0;
			}
			ssize_t n = recv(client, held->data + held->off + held->len, CORDON_RELAY_PEEK_MAX - held->len, 0);
			if (n < 0 && errno != EINTR)
				return V_STOP;
			if (n == 0) {
				client_open = false;
				shutdown(decide, SHUT_WR); /* the proxy judges what came */
			}
			if (n > 0) {
				if (!write_all(decide, held->data + held->off + held->len, (size_t)n))
					return V_STOP;
				held->len += (size_t)n;
			}
		}
		if (p[2].revents) {
			ssize_t n = recv(server, buf, sizeof buf, 0);
			if (n == 0 || (n < 0 && errno != EINTR))
				return V_STOP;
			if (n > 0)
				pend_off = 0, pend_len = (size_t)n;
		}
	}
}

static void *intake(void *arg)
{
	struct intake *in = arg;
	int client = in->client;
	struct rbuf *b = malloc(sizeof *b), *ans = malloc(sizeof *ans);
	int up = -1;
	if (!b || !ans) {
		close_client(client);
		goto out;
	}
	b->off = b->len = ans->off = ans->len = 0;
	size_t at;
	int r = read_until_marker(client, b, HEAD_MAX, "\r\n\r\n", NULL, now_ms() + HANDSHAKE_MS, &at);
	if (r == 1 && relay_plain_head(b->data, at)) {
		forward_http(client, in->socket_path, b, in->attr);
		b = NULL;
		goto out;
	}
	if (r != 1 || at < 8 || memcmp(b->data, "CONNECT ", 8) != 0) {
		/* Not a whole head, or one the relay does not frame: the proxy deals with it, bytes and all. */
		serve(client, in->socket_path, b->data, b->len, in->attr);
		goto out;
	}
	up = dial_unix(in->socket_path);
	if (up < 0 || !write_all(up, dial_preamble, dial_preamble_len) || !write_all(up, b->data, at)) {
		close_client(client);
		goto out;
	}
	/* The proxy's answer: its first line says whether to dial. */
	long deadline = now_ms() + DECIDE_MS;
	size_t ll;
	int got = read_until_marker(up, ans, 256, "\r\n", NULL, deadline, &ll);
	char address[INET6_ADDRSTRLEN];
	unsigned port = 0;
	const size_t dl = sizeof CORDON_RELAY_DIAL_ANSWER - 1;
	if (got == 1 && ll > dl && memcmp(ans->data, CORDON_RELAY_DIAL_ANSWER, dl) == 0) {
		if (!relay_dial_line(ans->data, ll - 2, address, &port)) {
			close_client(client);
			goto out;
		}
		rbuf_consume(ans, ll);
		int err;
		int server = ask_dialer(address, (uint16_t)port, &err);
		if (server < 0) {
			refuse_502(client, err);
			close_client(client);
			goto out;
		}
		static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
		rbuf_consume(b, at); /* what is left is the client's first bytes in the tunnel */
		long long moved[2] = { 0, 0 };
		enum verdict v = write_all(client, ok, sizeof ok - 1) ? tunnel_verdict(client, server, up, b, ans, moved) : V_STOP;
		if (v == V_GO && (b->len == 0 || write_all(server, b->data + b->off, b->len))) {
			/* The proxy's connection stays open until the tunnel ends: it is told how many bytes went each way
			 * (those passed on before the verdict and the held first bytes included). */
			start_pumps(client, server, in->attr, up, moved[0] + (long long)b->len, moved[1]);
			up = -1;
		} else if (v == V_ROUTE && (ans->len == 0 || write_all(client, ans->data + ans->off, ans->len))) {
			/* Plain HTTP: the proxy serves the tunnel's requests itself, on this connection. */
			close(server);
			start_pumps(client, up, in->attr, -1, 0, 0);
			up = -1;
		} else {
			close(server);
			close_client(client);
		}
		goto out;
	}
	if (got != 1) {
		close_client(client);
		goto out;
	}
	const size_t sl = sizeof CORDON_RELAY_TUNNEL_SERVE - 1;
	if (ll == sl + 2 && memcmp(ans->data, CORDON_RELAY_TUNNEL_SERVE, sl) == 0) {
		/* The proxy serves this tunnel itself (TLS termination, or a tunnel
		 * through an upstream proxy): the client's bytes go to it, on this
		 * connection, from the first one; what it sent right behind its word
		 * is already the server's (one that speaks first), for the client. */
		static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
		rbuf_consume(ans, ll);
		rbuf_consume(b, at);
		if (write_all(client, ok, sizeof ok - 1) && (ans->len == 0 || write_all(client, ans->data + ans->off, ans->len)) &&
		    (b->len == 0 || write_all(up, b->data + b->off, b->len))) {
			start_pumps(client, up, in->attr, -1, 0, 0);
			up = -1;
		} else {
			close_client(client);
		}
		goto out;
	}
	while (rbuf_fill(up, ans, NULL, deadline) == 1)
		;
	/* A refusal (or anything else): the proxy's answer goes to the client as it is, however long. */
	while (ans->len && write_all(client, ans->data, ans->len) && ans->len == RBUF_SIZE) {
		ans->len = 0;
		while (rbuf_fill(up, ans, NULL, deadline) == 1)
			;
	}
	close_client(client);
out:
	if (up >= 0)
		close(up);
	free(b);
	free(ans);
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
		dial_preamble_len = (size_t)snprintf(dial_preamble, sizeof dial_preamble, CORDON_RELAY_DIAL_PREAMBLE "%s", preamble + strlen(CORDON_RELAY_PREAMBLE));
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
	if (write(STDOUT_FILENO, CORDON_RELAY_READY, strlen(CORDON_RELAY_READY)) != (ssize_t)strlen(CORDON_RELAY_READY))
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
			if (atomic_load(&live_conns) >= MAX_CONNS) {
				usleep(20 * 1000); /* full: the backlog holds the rest until a connection ends */
				break;
			}
			int c = accept4(maps[i].listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0) {
				/* Out of descriptors or memory: wait, rather than spin on a listener that stays readable. */
				if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
					usleep(50 * 1000);
				continue;
			}
			atomic_fetch_add(&live_conns, 1);
			if (maps[i].port != dial_port) {
				serve(c, maps[i].socket_path, NULL, 0, &attr);
				continue;
			}
			struct intake *in = malloc(sizeof *in);
			pthread_t t;
			if (!in) {
				close_client(c);
				continue;
			}
			*in = (struct intake){ c, maps[i].socket_path, &attr };
			if (pthread_create(&t, &attr, intake, in) != 0) {
				close_client(c);
				free(in);
			}
		}
	}
usage:
	fputs("usage: cordon-relay --pid PID --map PORT=SOCKET [--map PORT=SOCKET]... [--dial-port PORT]\n", stderr);
	return EXIT_RELAY;
}
