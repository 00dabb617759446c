// SPDX-License-Identifier: GPL-2.0
/*
 * null_bpf.so: LD_PRELOADed into a peer to measure what an element
 * operation costs outside the kernel. libbpf enters the kernel through
 * libc's syscall(); this one answers BPF_MAP_LOOKUP_ELEM and
 * BPF_MAP_UPDATE_ELEM with success at once (a lookup leaves the value
 * buffer as it was) and passes every other call through. The time left per
 * operation is the caller's own: libbpf's attr set-up for C, and for bpfmap
 * the Lua call, the argument checks, the buffers and the result.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

typedef long (*syscall_fn)(long, ...);

long syscall(long number, ...)
{
	static syscall_fn real;
	long a[6];
	va_list ap;
	int i;

	va_start(ap, number);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == __NR_bpf && (a[0] == BPF_MAP_LOOKUP_ELEM || a[0] == BPF_MAP_UPDATE_ELEM))
		return 0;
	if (!real)
		real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
