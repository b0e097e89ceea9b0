/*
 * The little HTTP/1.1 the relay needs to forward plain-HTTP requests itself:
 * where a response's body ends (RFC 9112 §6.3) and chunk-size lines (§7.1).
 * Pure functions over byte ranges: no I/O, no allocation, no decisions. The
 * proxy reads and judges every request head; the relay only counts bytes.
 *
 * Strict on purpose: anything it cannot frame with certainty is malformed,
 * and the relay then ends the client's connection rather than guess.
 */
#ifndef CORDON_HTTP1_H
#define CORDON_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

enum body_kind {
	BODY_NONE, /* no body: 1xx, 204, 304 (the proxy serves HEAD requests itself) */
	BODY_LENGTH, /* Content-Length bytes */
	BODY_CHUNKED, /* chunked transfer coding */
	BODY_CLOSE, /* everything until the server closes */
};

struct response_head {
	int status;
	enum body_kind body;
	unsigned long long length; /* BODY_LENGTH only */
	bool close; /* the server will close after this response */
};

static inline bool http1_is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Does the comma-separated list v[0..n) contain `token` (case-insensitive)? Sets *last when it is the last element. */
static inline bool http1_list_has(const char *v, size_t n, const char *token, bool *last)
{
	size_t tl = strlen(token);
	bool found = false;
	if (last)
		*last = false;
	for (size_t i = 0; i < n;) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == s)
			continue;
		bool hit = e - s == tl && strncasecmp(v + s, token, tl) == 0;
		found = found || hit;
		if (last)
			*last = hit;
	}
	return found;
}

/*
 * Finds header `name` in a head (status or request line first, CRLF lines,
 * ending with an empty line). Returns the value of the first occurrence,
 * without surrounding whitespace, or NULL. *count says how many there are.
 */
static inline const char *http1_header(const char *head, size_t len, const char *name, size_t *vlen, int *count)
{
	size_t nl = strlen(name);
	const char *first = NULL;
	int seen = 0;
	const char *end = head + len;
	const char *p = memchr(head, '\n', len);
	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		size_t ll = (size_t)(eol - p);
		if (ll && p[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1, *ve = p + ll;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (!first) {
				first = v;
				*vlen = (size_t)(ve - v);
			}
			seen++;
		}
		p = eol;
	}
	if (count)
		*count = seen;
	return first;
}

/* A decimal Content-Length value, digits only; false when empty, malformed or absurd. */
static inline bool http1_parse_length(const char *v, size_t n, unsigned long long *out)
{
	if (n == 0 || n > 18)
		return false;
	unsigned long long x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (unsigned long long)(v[i] - '0');
	}
	*out = x;
	return true;
}

/*
 * Frames a response head (status line to the empty line, CRLF line ends,
 * as received) that answers anything but a HEAD request. Each header line
 * must be `name: value` with a token name: a server that sends something
 * else is not framed by guesswork.
 */
static inline bool http1_parse_response(const char *head, size_t len, struct response_head *r)
{
	memset(r, 0, sizeof *r);
	if (len < 16 || memcmp(head, "HTTP/1.", 7) != 0 || (head[7] != '0' && head[7] != '1') || head[8] != ' ')
		return false;
	for (int i = 9; i < 12; i++)
		if (head[i] < '0' || head[i] > '9')
			return false;
	if (head[12] != ' ' && head[12] != '\r')
		return false;
	r->status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
	if (r->status < 100)
		return false;
	/* Every header line: a token, a colon, no CR/LF/NUL inside. */
	const char *end = head + len;
	const char *p = memchr(head, '\n', len);
	if (!p || p == head || p[-1] != '\r')
		return false;
	for (p++; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol || eol == p || eol[-1] != '\r')
			return false;
		size_t ll = (size_t)(eol - p) - 1;
		if (ll == 0)
			break;
		size_t i = 0;
		while (i < ll && http1_is_tchar(p[i]))
			i++;
		if (i == 0 || i == ll || p[i] != ':')
			return false;
		for (; i < ll; i++)
			if (p[i] == '\r' || p[i] == '\0')
				return false;
		p = eol + 1;
	}
	bool http10 = head[7] == '0';
	size_t vl;
	int n;
	const char *conn = http1_header(head, len, "connection", &vl, &n);
	r->close = http10 ? !(conn && http1_list_has(conn, vl, "keep-alive", NULL)) : (conn && http1_list_has(conn, vl, "close", NULL));
	if (r->status < 200 || r->status == 204 || r->status == 304) {
		r->body = BODY_NONE;
		return true;
	}
	const char *te = http1_header(head, len, "transfer-encoding", &vl, &n);
	if (te) {
		bool last;
		/* Only chunked last frames the body; any other coding runs to the close. */
		if (n == 1 && http1_list_has(te, vl, "chunked", &last) && last) {
			r->body = BODY_CHUNKED;
		} else {
			r->body = BODY_CLOSE;
			r->close = true;
		}
		return true;
	}
	const char *cl = http1_header(head, len, "content-length", &vl, &n);
	if (cl) {
		if (n != 1 || !http1_parse_length(cl, vl, &r->length))
			return false;
		r->body = BODY_LENGTH;
		return true;
	}
	r->body = BODY_CLOSE;
	r->close = true;
	return true;
}

/*
 * A chunk-size line (without its CRLF): hex digits, then optionally
 * whitespace and `;` extensions of visible characters. The size is at most
 * 15 hex digits.
 */
static inline bool http1_parse_chunk_size(const char *line, size_t n, unsigned long long *size)
{
	size_t i = 0;
	unsigned long long x = 0;
	for (; i < n && i < 16; i++) {
		char c = line[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			break;
		x = x * 16 + (unsigned long long)d;
	}
	if (i == 0 || i > 15)
		return false;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < n && line[i] != ';')
		return false;
	for (; i < n; i++)
		if (!((line[i] >= 0x21 && line[i] <= 0x7e) || line[i] == ' ' || line[i] == '\t'))
			return false;
	*size = x;
	return true;
}

#endif
