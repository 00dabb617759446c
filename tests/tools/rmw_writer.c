// SPDX-License-Identifier: GPL-2.0
/*
 * rmw_writer: the counter-example of spec/concurrency_spec.lua. Writes a
 * 4-byte field of an array map's key 0 the way a writer without a mapping
 * does: read the WHOLE value, patch the field, write the WHOLE value back.
 * Whatever the program changed in the rest of the value between the read
 * and the write is lost.
 *
 *   rmw_writer MAP_ID OFFSET ITERS
 *
 * Protocol, one line each on stdout, flushed:
 *   ready                   the map is open and OFFSET checked
 * then it waits for one line on stdin (the go signal; EOF instead: exit 1
 * without writing), makes ITERS rounds of bpf_map_lookup_elem(key 0) +
 * 4-byte patch at OFFSET (alternately 0x5a5a5a5a and 0xa5a5a5a5) +
 * bpf_map_update_elem(BPF_EXIST), and
 *   done T0 T1              CLOCK_MONOTONIC nanoseconds around the rounds
 * and exits 0. On any failure: a message on stderr and status 1.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

static void die(const char *what)
{
	fprintf(stderr, "rmw_writer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned long parse_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0') {
		fprintf(stderr, "rmw_writer: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long id, offset, iters, i;
	struct bpf_map_info info;
	__u32 len = sizeof(info), key = 0;
	unsigned char *buf;
	char line[64];
	long long t0, t1;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: rmw_writer MAP_ID OFFSET ITERS\n");
		return 2;
	}
	id = parse_ul(argv[1], "MAP_ID");
	offset = parse_ul(argv[2], "OFFSET");
	iters = parse_ul(argv[3], "ITERS");

	fd = bpf_map_get_fd_by_id((__u32)id);
	if (fd < 0)
		die("bpf_map_get_fd_by_id");
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		die("bpf_obj_get_info_by_fd");
	if (info.key_size != 4 || offset > info.value_size ||
	    info.value_size - offset < 4) {
		fprintf(stderr, "rmw_writer: OFFSET %lu + 4 outside the %u-byte value"
			" (or key is not 4 bytes)\n", offset, info.value_size);
		return 1;
	}
	buf = malloc(info.value_size);
	if (!buf)
		die("malloc");
	printf("ready\n");
	fflush(stdout);

	if (!fgets(line, sizeof(line), stdin)) {
		fprintf(stderr, "rmw_writer: stdin closed before the go signal\n");
		return 1;
	}
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		uint32_t v = (i & 1) ? 0xa5a5a5a5u : 0x5a5a5a5au;

		if (bpf_map_lookup_elem(fd, &key, buf))
			die("bpf_map_lookup_elem");
		memcpy(buf + offset, &v, sizeof(v));
		if (bpf_map_update_elem(fd, &key, buf, BPF_EXIST))
			die("bpf_map_update_elem");
	}
	t1 = now_ns();
	printf("done %lld %lld\n", t0, t1);
	fflush(stdout);
	free(buf);
	close(fd);
	return 0;
}
