/*
 * What the C peers (c_elems.c, c_store.c) share: the clock every peer
 * measures with and their command-line number parsing.
 */
#ifndef BPFMAP_BENCH_PEER_H
#define BPFMAP_BENCH_PEER_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CPU time of this process (user + system): waiting for one of the shared
 * CPUs does not count. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* argv number s (decimal, 0x hex, 0 octal) of at least min, or exit 2
 * with "<prog>: bad <what> '<s>'". */
static unsigned long parse_ul(const char *prog, const char *s, const char *what,
                              unsigned long min)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || v < min) {
		fprintf(stderr, "%s: bad %s '%s'\n", prog, what, s);
		exit(2);
	}
	return v;
}

#endif
