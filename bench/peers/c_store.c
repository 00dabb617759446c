// SPDX-License-Identifier: GPL-2.0
/*
 * c_store: the plain C libbpf peer of bpfmap's BpfMapWrite, for bench/run.lua.
 *
 *   c_store MODE MAP_ID OFFSET ITERS RUNS [VAR]
 *
 * MODE is one of
 *   warm    open the map by id and mmap it read-write once, as a libbpf
 *           skeleton does (skel->bss->x = v), then time ITERS naturally
 *           aligned 4-byte stores at OFFSET through a volatile pointer;
 *   cold    time the whole path per iteration: bpf_map_get_fd_by_id +
 *           bpf_obj_get_info_by_fd + btf__load_from_kernel_by_id(btf_id) +
 *           btf__find_by_name_kind(VAR) (and its offset in the DATASEC,
 *           checked against OFFSET) + mmap + store + munmap + close;
 *   update  time bpf_map_lookup_elem + bpf_map_update_elem(BPF_EXIST) of
 *           the whole value of key 0 with the 4 bytes at OFFSET patched
 *           (the read-modify-write path).
 *
 * One untimed warm-up run, then RUNS timed runs of ITERS iterations each.
 * Output, one line per timed run, machine-readable:
 *   c_warm_store_ns <ns per store>
 *   c_cold_path_us <us per iteration>
 *   c_update_ns <ns per lookup+update>
 * Lines starting with '#' are comments. Exit status 0 on success; on any
 * failure a message on stderr and status 1.
 *
 * Clock: clock_gettime(CLOCK_PROCESS_CPUTIME_ID): the process's CPU time,
 * so that waiting for a shared CPU does not count.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "peer.h"

static void die(const char *what)
{
	fprintf(stderr, "c_store: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_msg(const char *msg)
{
	fprintf(stderr, "c_store: %s\n", msg);
	exit(1);
}

static size_t map_mmap_size(const struct bpf_map_info *info)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t sz = (size_t)info->value_size * info->max_entries;

	return (sz + page - 1) / page * page;
}

static void get_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		die("bpf_obj_get_info_by_fd");
}

/* ---- warm: one mapping, then plain stores ---- */

static volatile uint32_t *warm_ptr;

static double run_warm(unsigned long iters)
{
	volatile uint32_t *p = warm_ptr;
	unsigned long i;
	double t0, t1;

	t0 = now_ns();
	for (i = 0; i < iters; i++)
		*p = (uint32_t)i;
	t1 = now_ns();
	return (t1 - t0) / (double)iters;
}

/* ---- cold: everything a one-shot writer does, every time ---- */

static __u32 cold_map_id;
static unsigned long cold_offset;
static const char *cold_var;

static void cold_once(uint32_t v)
{
	struct bpf_map_info info;
	const struct btf_type *sec;
	const struct btf_var_secinfo *vsi;
	struct btf *btf;
	void *mem;
	size_t sz;
	int fd, vid, i, found = -1;

	fd = bpf_map_get_fd_by_id(cold_map_id);
	if (fd < 0)
		die("bpf_map_get_fd_by_id");
	get_info(fd, &info);
	btf = btf__load_from_kernel_by_id(info.btf_id);
	if (!btf)
		die("btf__load_from_kernel_by_id");
	vid = btf__find_by_name_kind(btf, cold_var, BTF_KIND_VAR);
	if (vid < 0)
		die_msg("btf__find_by_name_kind: variable not found");
	/* where the variable lives: its entry in the value's DATASEC */
	sec = btf__type_by_id(btf, info.btf_value_type_id);
	if (!sec || !btf_is_datasec(sec))
		die_msg("map value type is not a DATASEC");
	vsi = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vsi++)
		if ((int)vsi->type == vid) {
			found = (int)vsi->offset;
			break;
		}
	if (found < 0 || (unsigned long)found != cold_offset)
		die_msg("variable offset in the DATASEC differs from OFFSET");
	sz = map_mmap_size(&info);
	mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	*(volatile uint32_t *)((char *)mem + found) = v;
	munmap(mem, sz);
	btf__free(btf);
	close(fd);
}

static double run_cold(unsigned long iters)
{
	unsigned long i;
	double t0, t1;

	t0 = now_ns();
	for (i = 0; i < iters; i++)
		cold_once((uint32_t)i);
	t1 = now_ns();
	return (t1 - t0) / (double)iters / 1e3;
}

/* ---- update: lookup + patch + update of the whole value ---- */

static int upd_fd;
static unsigned char *upd_buf;
static unsigned long upd_offset;

static double run_update(unsigned long iters)
{
	__u32 key = 0;
	unsigned long i;
	double t0, t1;

	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		uint32_t v = (uint32_t)i;

		if (bpf_map_lookup_elem(upd_fd, &key, upd_buf))
			die("bpf_map_lookup_elem");
		memcpy(upd_buf + upd_offset, &v, sizeof(v));
		if (bpf_map_update_elem(upd_fd, &key, upd_buf, BPF_EXIST))
			die("bpf_map_update_elem");
	}
	t1 = now_ns();
	return (t1 - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	const char *mode, *label;
	double (*run)(unsigned long);
	unsigned long id, offset, iters, runs, r;
	struct bpf_map_info info;
	void *mem = NULL;
	size_t sz = 0;
	int fd;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: c_store warm|cold|update MAP_ID OFFSET ITERS RUNS [VAR]\n");
		return 2;
	}
	mode = argv[1];
	id = parse_ul("c_store", argv[2], "map id", 0);
	offset = parse_ul("c_store", argv[3], "offset", 0);
	iters = parse_ul("c_store", argv[4], "iteration count", 0);
	runs = parse_ul("c_store", argv[5], "run count", 0);
	if (id == 0 || id > UINT32_MAX || iters == 0 || runs == 0)
		die_msg("map id, iterations and runs must be positive");
	if (offset % 4)
		die_msg("offset must be 4-byte aligned (a naturally aligned u32)");

	fd = bpf_map_get_fd_by_id((__u32)id);
	if (fd < 0)
		die("bpf_map_get_fd_by_id");
	get_info(fd, &info);
	if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 || info.max_entries < 1)
		die_msg("not an array map with a u32 key");
	if (offset + 4 > info.value_size)
		die_msg("offset + 4 is past the map's value");

	if (!strcmp(mode, "warm")) {
		if (!(info.map_flags & BPF_F_MMAPABLE))
			die_msg("map is not BPF_F_MMAPABLE");
		sz = map_mmap_size(&info);
		mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (mem == MAP_FAILED)
			die("mmap");
		warm_ptr = (volatile uint32_t *)((char *)mem + offset);
		run = run_warm;
		label = "c_warm_store_ns";
	} else if (!strcmp(mode, "cold")) {
		if (argc != 7)
			die_msg("cold needs VAR, the variable's name");
		cold_map_id = (__u32)id;
		cold_offset = offset;
		cold_var = argv[6];
		run = run_cold;
		label = "c_cold_path_us";
	} else if (!strcmp(mode, "update")) {
		upd_fd = fd;
		upd_offset = offset;
		upd_buf = calloc(1, info.value_size);
		if (!upd_buf)
			die("calloc");
		run = run_update;
		label = "c_update_ns";
	} else {
		die_msg("mode must be warm, cold or update");
	}

	printf("# c_store %s map %lu (%s) offset %lu iters %lu runs %lu\n", mode, id, info.name,
	       offset, iters, runs);
	run(iters); /* warm-up, not reported */
	for (r = 0; r < runs; r++)
		printf("%s %.4f\n", label, run(iters));

	if (mem)
		munmap(mem, sz);
	free(upd_buf);
	close(fd);
	return 0;
}
