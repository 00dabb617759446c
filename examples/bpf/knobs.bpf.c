// SPDX-License-Identifier: GPL-2.0
/*
 * Example program for `make demo`: a kill switch and a tunable, read on
 * every getpid() once attached.  The demo loads it (not attached) and flips
 * its globals from Lua with BpfMapWrite.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int crash;                      /* the kill switch */

struct tuning {
	__u32 sample_every;
	struct {
		__u16 burst;
		__u16 limit;
	} rate;
} tuning = { .sample_every = 1, .rate = { .burst = 4, .limit = 100 } };

__u64 events;
__u64 errors;

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u64 n = __sync_fetch_and_add(&events, 1);

	if (crash)
		__sync_fetch_and_add(&errors, 1);
	if (tuning.sample_every && n % tuning.sample_every)
		return 0;
	return tuning.rate.limit > tuning.rate.burst;
}
