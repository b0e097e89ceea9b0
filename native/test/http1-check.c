/*
 * Test driver for native/http1.h (built by test/unit/native/http1.test.ts;
 * not part of cordon itself). Its fuzz target is native/test/fuzz-relay.c.
 *
 *   http1-check response < HEAD    prints "<status> <none|length N|chunked|close> <close|keep>" or "malformed"
 *   http1-check chunk < LINE       prints the chunk size, or "malformed"
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "../http1.h"

int main(int argc, char **argv)
{
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf, stdin);
	if (argc == 2 && strcmp(argv[1], "response") == 0) {
		struct response_head h;
		if (!http1_parse_response(buf, n, &h)) {
			puts("malformed");
			return 0;
		}
		const char *kind = h.body == BODY_NONE ? "none" : h.body == BODY_LENGTH ? "length" : h.body == BODY_CHUNKED ? "chunked" : "close";
		if (h.body == BODY_LENGTH)
			printf("%d %s %llu %s\n", h.status, kind, h.length, h.close ? "close" : "keep");
		else
			printf("%d %s %s\n", h.status, kind, h.close ? "close" : "keep");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "chunk") == 0) {
		unsigned long long size;
		if (http1_parse_chunk_size(buf, n, &size))
			printf("%llu\n", size);
		else
			puts("malformed");
		return 0;
	}
	fputs("usage: http1-check response|chunk < input\n", stderr);
	return 2;
}
