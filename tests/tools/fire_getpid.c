// SPDX-License-Identifier: GPL-2.0
/*
 * fire_getpid: make N getpid system calls on a go signal, for
 * spec/concurrency_spec.lua.
 *
 *   fire_getpid N
 *
 * Protocol, one line each on stdout, flushed:
 *   pid PID                 at start (PID is also the thread group id: the
 *                           process is single-threaded)
 * then it waits for one line on stdin (the go signal; EOF instead means the
 * parent gave up or died: exit 1 without firing), makes N calls of
 * syscall(SYS_getpid) (never glibc's getpid(), which older glibc caches), and
 *   done T0 T1              CLOCK_MONOTONIC nanoseconds around the N calls
 * and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long n, i;
	long pid;
	char *end, line[64];
	long long t0, t1;

	errno = 0;
	n = argc == 2 ? strtoul(argv[1], &end, 0) : 0;
	if (argc != 2 || errno || *argv[1] == '\0' || *end != '\0') {
		fprintf(stderr, "usage: fire_getpid N\n");
		return 2;
	}
	pid = syscall(SYS_getpid);
	printf("pid %ld\n", pid);
	fflush(stdout);

	if (!fgets(line, sizeof(line), stdin)) {
		fprintf(stderr, "fire_getpid: stdin closed before the go signal\n");
		return 1;
	}
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if (syscall(SYS_getpid) != pid) {
			fprintf(stderr, "fire_getpid: getpid changed\n");
			return 1;
		}
	}
	t1 = now_ns();
	printf("done %lld %lld\n", t0, t1);
	fflush(stdout);
	return 0;
}
