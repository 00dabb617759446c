// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmarks' own program: a .bss with a few globals, for workload 3
 * (write one global by name) and 4 (discover it among many maps).
 *
 * The file name is the object name; libbpf 1.1 keeps its first 8 bytes in
 * the data map's name ("bpfmapt_.bss"). It is never the specs' fixture,
 * whose marker other runs resolve by discovery: bench_marker is a name no
 * other program here has, so a cold apply with no narrowing finds exactly
 * this map.
 *
 * The padding gives .bss a realistic size (a few hundred bytes), which is
 * what a peer without BTF (bpftool) has to rewrite whole to change 4 bytes.
 * Every global is non-static and read by the program so that clang keeps it
 * and the loaded program really uses the map.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__u64 bench_events;
__u32 bench_knob;
__u32 bench_marker;
__u64 bench_pad[40];

SEC("tracepoint/syscalls/sys_enter_getpid")
int bpfmapt_bch_get(void *ctx)
{
	__u64 s = bench_knob + bench_marker;
	int i;

	for (i = 0; i < 40; i++)
		s += bench_pad[i];
	bench_events += s;
	return 0;
}
