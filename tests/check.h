/*
 * The check macro of the plain-C unit tests (tests/test_*.c): no framework,
 * a count of passes and failures that each test's main() prints as
 * "N passed, N failed".  Included once per test program.
 */
#ifndef BPFMAP_TESTS_CHECK_H
#define BPFMAP_TESTS_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (cond) {                                                  \
			passed++;                                            \
		} else {                                                     \
			failed++;                                            \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                 \
			printf("\n");                                        \
		}                                                            \
	} while (0)

#endif
