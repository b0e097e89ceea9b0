/*
 * libFuzzer target: every parser the relay runs on bytes that come from a
 * sandbox or from the proxy. native/http1.h (response heads, chunk-size
 * lines, header lookup) and native/relay-lines.h (request heads, the proxy's
 * answers about a tunnel). Built and run by scripts/fuzz.mjs with
 * AddressSanitizer and UndefinedBehaviorSanitizer, from the regression
 * corpus in native/test/corpus/relay; not part of cordon itself.
 */
#include <stdint.h>
#include <string.h>

#include "cordon-protocol.h"
#include "../http1.h"
#include "../relay-lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	struct response_head h;
	unsigned long long n;
	size_t vl, pass;
	int count;
	char address[46];
	unsigned port;
	http1_parse_response(d, size, &h);
	http1_parse_chunk_size(d, size, &n);
	http1_header(d, size, "content-length", &vl, &count);
	relay_plain_head(d, size);
	/* What the relay dials must be what the line says, within its bounds. */
	if (relay_dial_line(d, size, address, &port) && (strlen(address) == 0 || strlen(address) > 45 || port == 0 || port > 65535))
		__builtin_trap();
	if (relay_tunnel_answer(d, size, size / 2, &pass) == ANSWER_PASS && (pass == 0 || pass > size / 2))
		__builtin_trap();
	return 0;
}
