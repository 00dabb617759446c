// SPDX-License-Identifier: GPL-2.0
/*
 * examples/killswitch.lua's program: counts one process's
 * clock_gettime(CLOCK_PROCESS_CPUTIME_ID) calls (Lua's os.clock()).  Once
 * the `crash` global is set (by a BpfMapWrite), every call is reported as
 * an error, with crash's value as the code, in the ks_report map.
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

/* Written by the scenario (BpfMapWrite, by name through BTF). */
__u32 target_tgid;   /* the process watched; 0 watches nothing */
__u32 crash;         /* the kill switch: an error code, 0 for none */

/* Read by the scenario as a table, through the map's BTF. */
struct ks_report {
	__u64 calls;
	__u64 errors;
	__u64 first_error_call;  /* which call first saw the switch */
	__u32 code;
	__u32 unused;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_report);
} ks_report SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_clock_gettime")
int killswitch(struct sys_enter *ctx)
{
	__u32 zero = 0, code;
	struct ks_report *r;
	__u64 n;

	if (ctx->args[0] != CLOCK_PROCESS_CPUTIME_ID ||
	    (bpf_get_current_pid_tgid() >> 32) != *(volatile __u32 *)&target_tgid)
		return 0;
	r = bpf_map_lookup_elem(&ks_report, &zero);
	if (!r)
		return 0;
	n = __sync_fetch_and_add(&r->calls, 1) + 1;
	code = *(volatile __u32 *)&crash;
	if (!code)
		return 0;
	if (__sync_fetch_and_add(&r->errors, 1) == 0) {
		r->code = code;
		r->first_error_call = n;
	}
	return 0;
}
