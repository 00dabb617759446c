/*
 * The invariant check of the libFuzzer harnesses (tests/fuzz_*.c): a
 * violated property aborts, which libFuzzer reports as a crash and saves
 * the input that caused it.
 */
#ifndef BPFMAP_TESTS_REQUIRE_H
#define BPFMAP_TESTS_REQUIRE_H

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                        \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: violated: %s\n", __FILE__,    \
			        __LINE__, #cond);                            \
			abort();                                             \
		}                                                            \
	} while (0)

#endif
