// SPDX-License-Identifier: GPL-2.0
/*
 * examples/tuning.lua's program: a rate limiter on one process's
 * clock_gettime(CLOCK_PROCESS_CPUTIME_ID) calls (Lua's os.clock()).  Calls
 * beyond cfg.limits.max_calls are throttled; the scenario tunes that nested
 * field by its dot-path while the workload runs.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define CLOCK_PROCESS_CPUTIME_ID 2

struct sys_enter {
	__u64 common;
	long syscall_nr;
	unsigned long args[6];
};

struct limits {
	__u32 max_calls;
	__u32 burst;
};

struct config {
	__u32 enabled;
	struct limits limits;
} cfg = { .enabled = 1, .limits = { .max_calls = 10, .burst = 0 } };

__u32 target_tgid;

/* Read by the scenario as a table, through the map's BTF. */
struct tn_counts {
	__u64 allowed;
	__u64 throttled;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tn_counts);
} tn_counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_clock_gettime")
int tuning(struct sys_enter *ctx)
{
	__u32 zero = 0;
	struct tn_counts *c;

	if (ctx->args[0] != CLOCK_PROCESS_CPUTIME_ID ||
	    (bpf_get_current_pid_tgid() >> 32) != *(volatile __u32 *)&target_tgid)
		return 0;
	c = bpf_map_lookup_elem(&tn_counts, &zero);
	if (!c)
		return 0;
	if (!cfg.enabled || c->allowed < *(volatile __u32 *)&cfg.limits.max_calls)
		__sync_fetch_and_add(&c->allowed, 1);
	else
		__sync_fetch_and_add(&c->throttled, 1);
	return 0;
}
