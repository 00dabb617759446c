// SPDX-License-Identifier: GPL-2.0
/*
 * examples/waiter.lua's program: per process, its
 * clock_gettime(CLOCK_PROCESS_CPUTIME_ID) calls (Lua's os.clock()) before
 * and after the `go` global was set, and when the first one came, so the
 * scenario can show its child's workload started only after the write.
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

__u32 go;             /* set by the scenario's write */

struct calls {
	__u64 after_go;
	__u64 before_go;
	__u64 first_ns;   /* CLOCK_MONOTONIC, as the scenario's clock */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);             /* tgid */
	__type(value, struct calls);
} per_process SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_clock_gettime")
int bpfmap_waiter(struct sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct calls fresh = {}, *c;

	if (ctx->args[0] != CLOCK_PROCESS_CPUTIME_ID)
		return 0;
	c = bpf_map_lookup_elem(&per_process, &tgid);
	if (!c) {
		fresh.first_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&per_process, &tgid, &fresh, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&per_process, &tgid);
		if (!c)
			return 0;
	}
	if (*(volatile __u32 *)&go)
		__sync_fetch_and_add(&c->after_go, 1);
	else
		__sync_fetch_and_add(&c->before_go, 1);
	return 0;
}
