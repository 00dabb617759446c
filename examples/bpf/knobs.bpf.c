// SPDX-License-Identifier: GPL-2.0
/*
 * examples/write_global.lua's program: a kill switch, a tunable and a
 * per-process mode, read on every getpid() once attached.  The example
 * loads it with bpfmap.Object (not attached) and sets them from Lua by
 * name, through the maps' BTF.
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

enum mode { MODE_OFF, MODE_ON, MODE_AUTO };

/* Per process (tgid): how its calls are counted; no entry is MODE_ON. */
struct knob {
	enum mode mode;
	__u32 level;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct knob);
} knobs_by_tgid SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct knob *k = bpf_map_lookup_elem(&knobs_by_tgid, &tgid);
	__u64 n;

	if (k && k->mode == MODE_OFF)
		return 0;
	n = __sync_fetch_and_add(&events, 1);
	if (crash)
		__sync_fetch_and_add(&errors, 1);
	if (tuning.sample_every && n % tuning.sample_every)
		return 0;
	return tuning.rate.limit > tuning.rate.burst;
}
