/*
 * The lines the relay reads: a client's request head (whether the proxy and
 * the relay agree on where it ends), and the proxy's answers about a tunnel
 * (native/protocol.json: relay). Pure functions over byte ranges: no I/O, no
 * allocation, no decisions; a libFuzzer target with http1.h
 * (native/test/fuzz-relay.c). Include after cordon-protocol.h.
 */
#ifndef CORDON_RELAY_LINES_H
#define CORDON_RELAY_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "http1.h" /* http1_parse_length: digits only, no sign or space */

/*
 * A head the relay may pass to the proxy for a decision: not CONNECT, and
 * every line ends in CRLF (no bare LF, no NUL), so the proxy's parser and
 * the relay agree on where the head ends: one head, one answer.
 */
static bool relay_plain_head(const char *head, size_t hl)
{
	if (hl >= 8 && memcmp(head, "CONNECT ", 8) == 0)
		return false;
	for (size_t i = 0; i < hl; i++)
		if (head[i] == '\0' || (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')))
			return false;
	return true;
}

/*
 * "CORDON-DIAL <address> <port>" (the line without its CRLF): the address
 * (1 to 45 characters of an IP literal's alphabet) and a port 1-65535.
 */
static bool relay_dial_line(const char *l, size_t ll, char address[46], unsigned *port)
{
	const size_t dl = sizeof CORDON_RELAY_DIAL_ANSWER - 1;
	if (ll <= dl || memcmp(l, CORDON_RELAY_DIAL_ANSWER, dl) != 0)
		return false;
	const char *a = l + dl, *end = l + ll;
	const char *sp = memchr(a, ' ', (size_t)(end - a));
	if (!sp || sp == a || sp - a > 45)
		return false;
	for (const char *c = a; c < sp; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F') || *c == '.' || *c == ':'))
			return false;
	unsigned long long p;
	if (!http1_parse_length(sp + 1, (size_t)(end - sp - 1), &p) || p == 0 || p > 65535)
		return false;
	memcpy(address, a, (size_t)(sp - a));
	address[sp - a] = '\0';
	*port = (unsigned)p;
	return true;
}

enum tunnel_answer { ANSWER_GO, ANSWER_ROUTE, ANSWER_PASS, ANSWER_STOP };

/*
 * The proxy's answer about a tunnel's first bytes (the line without its
 * CRLF): GO, ROUTE, PASS <n> (n from 1 to `held`, the bytes the relay holds),
 * and anything else is STOP.
 */
static enum tunnel_answer relay_tunnel_answer(const char *l, size_t ll, size_t held, size_t *pass)
{
	const size_t pl = sizeof CORDON_RELAY_TUNNEL_PASS - 1;
	if (ll == sizeof CORDON_RELAY_TUNNEL_GO - 1 && memcmp(l, CORDON_RELAY_TUNNEL_GO, ll) == 0)
		return ANSWER_GO;
	if (ll == sizeof CORDON_RELAY_TUNNEL_ROUTE - 1 && memcmp(l, CORDON_RELAY_TUNNEL_ROUTE, ll) == 0)
		return ANSWER_ROUTE;
	unsigned long long n;
	if (ll > pl && memcmp(l, CORDON_RELAY_TUNNEL_PASS, pl) == 0 && http1_parse_length(l + pl, ll - pl, &n) && n >= 1 && n <= held) {
		*pass = (size_t)n;
		return ANSWER_PASS;
	}
	return ANSWER_STOP;
}

#endif
