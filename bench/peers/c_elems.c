// SPDX-License-Identifier: GPL-2.0
/*
 * c_elems: the C libbpf peer for element operations (workloads 1 and 2),
 * the limit every other implementation is compared against.
 *
 *   c_elems update|lookup PIN ITERS RUNS
 *       bpf_map_update_elem(BPF_ANY) / bpf_map_lookup_elem on a map with
 *       u32 keys and u64 values, keys cycling over 0..1023 as every peer
 *       does; ns per operation.
 *   c_elems walk|batch PIN RUNS
 *       a full read of the map: get_next_key + lookup_elem per key, or
 *       bpf_map_lookup_batch in chunks of BATCH keys; ns per element, and
 *       the element count is checked against the first run.
 *
 * The map is opened by its pinned path (bpf_obj_get), as every peer does.
 * One untimed warm-up run, then RUNS timed runs; output lines are
 * "c_<mode>_ns <ns per op>", lines starting with '#' are comments.
 * Clock: CLOCK_PROCESS_CPUTIME_ID (user + system time of this process), so
 * that time spent waiting for a shared CPU does not count.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "peer.h"

#define KEYS 1024u
#define BATCH 4096u

static int map_fd;
static __u32 max_entries;
static unsigned long expected_elems;

static void die(const char *what)
{
	fprintf(stderr, "c_elems: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double run_update(unsigned long iters)
{
	unsigned long i;
	double t0 = now_ns();

	for (i = 0; i < iters; i++) {
		__u32 key = (__u32)i % KEYS;
		__u64 value = i;

		if (bpf_map_update_elem(map_fd, &key, &value, BPF_ANY))
			die("bpf_map_update_elem");
	}
	return (now_ns() - t0) / (double)iters;
}

static double run_lookup(unsigned long iters)
{
	unsigned long i;
	__u64 sum = 0;
	double t0 = now_ns();

	for (i = 0; i < iters; i++) {
		__u32 key = (__u32)i % KEYS;
		__u64 value;

		if (bpf_map_lookup_elem(map_fd, &key, &value))
			die("bpf_map_lookup_elem");
		sum += value;
	}
	/* keeps the loop's reads observable */
	if (sum == 1)
		fputs("#\n", stdout);
	return (now_ns() - t0) / (double)iters;
}

static void check_count(unsigned long n)
{
	if (!expected_elems)
		expected_elems = n;
	else if (n != expected_elems) {
		fprintf(stderr, "c_elems: read %lu elements, earlier run read %lu\n", n,
			expected_elems);
		exit(1);
	}
}

static double run_walk(unsigned long unused)
{
	__u32 key, next;
	__u64 value;
	unsigned long n = 0;
	void *prev = NULL;
	double t0 = now_ns(), t;

	(void)unused;
	while (!bpf_map_get_next_key(map_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(map_fd, &key, &value)) {
			if (errno == ENOENT)
				continue;
			die("bpf_map_lookup_elem");
		}
		n++;
	}
	if (errno != ENOENT)
		die("bpf_map_get_next_key");
	t = now_ns() - t0;
	check_count(n);
	return t / (double)n;
}

static __u32 *batch_keys;
static __u64 *batch_values;

static double run_batch(unsigned long unused)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 in = 0, out = 0, count;
	unsigned long n = 0;
	void *in_batch = NULL;
	double t0 = now_ns(), t;
	int err;

	(void)unused;
	for (;;) {
		count = BATCH;
		err = bpf_map_lookup_batch(map_fd, in_batch, &out, batch_keys, batch_values, &count,
					   &opts);
		if (err && errno != ENOENT)
			die("bpf_map_lookup_batch");
		n += count;
		if (err)
			break;
		in = out;
		in_batch = &in;
	}
	t = now_ns() - t0;
	check_count(n);
	return t / (double)n;
}

int main(int argc, char **argv)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	double (*run)(unsigned long);
	unsigned long iters = 1, runs, r;
	const char *mode;

	if (argc < 4) {
		fprintf(stderr, "usage: c_elems update|lookup PIN ITERS RUNS | walk|batch PIN RUNS\n");
		return 2;
	}
	mode = argv[1];
	if (!strcmp(mode, "update") || !strcmp(mode, "lookup")) {
		if (argc != 5)
			return fprintf(stderr, "c_elems: %s needs PIN ITERS RUNS\n", mode), 2;
		iters = parse_ul("c_elems", argv[3], "iteration count", 1);
		runs = parse_ul("c_elems", argv[4], "run count", 1);
		run = !strcmp(mode, "update") ? run_update : run_lookup;
	} else if (!strcmp(mode, "walk") || !strcmp(mode, "batch")) {
		if (argc != 4)
			return fprintf(stderr, "c_elems: %s needs PIN RUNS\n", mode), 2;
		runs = parse_ul("c_elems", argv[3], "run count", 1);
		run = !strcmp(mode, "walk") ? run_walk : run_batch;
	} else {
		fprintf(stderr, "c_elems: unknown mode '%s'\n", mode);
		return 2;
	}

	map_fd = bpf_obj_get(argv[2]);
	if (map_fd < 0)
		die(argv[2]);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		die("bpf_obj_get_info_by_fd");
	if (info.key_size != sizeof(__u32) || info.value_size != sizeof(__u64)) {
		fprintf(stderr, "c_elems: %s: want u32 keys and u64 values\n", argv[2]);
		return 1;
	}
	max_entries = info.max_entries;
	batch_keys = calloc(BATCH, sizeof(*batch_keys));
	batch_values = calloc(BATCH, sizeof(*batch_values));
	if (!batch_keys || !batch_values)
		die("calloc");

	printf("# c_elems %s %s (map %u '%s', max_entries %u) iters %lu runs %lu\n", mode, argv[2],
	       info.id, info.name, max_entries, iters, runs);
	run(iters); /* warm-up, not reported */
	for (r = 0; r < runs; r++)
		printf("c_%s_ns %.4f\n", mode, run(iters));
	free(batch_keys);
	free(batch_values);
	close(map_fd);
	return 0;
}
