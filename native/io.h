/* Small I/O helpers shared by cordon's native programs. */
#ifndef CORDON_IO_H
#define CORDON_IO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <unistd.h>

/* Writes all n bytes (retrying short writes and EINTR); false on error or EOF. */
static inline bool write_all(int fd, const void *p, size_t n)
{
	for (const char *c = p; n;) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		c += k;
		n -= (size_t)k;
	}
	return true;
}

#endif
