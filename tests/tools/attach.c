// SPDX-License-Identifier: GPL-2.0
/*
 * attach: load a BPF object with libbpf, attach every program, and keep them
 * attached until stdin is closed. For spec/concurrency_spec.lua, which needs
 * a program attached to a tracepoint (bpftool 7.1 cannot attach one).
 *
 *   attach OBJECT.bpf.o
 *
 * Output on stdout, one line each, flushed:
 *   prog NAME ID        every program of the object, attached
 *   map NAME ID         every map of the object (NAME is the kernel's name)
 *   ready               all of the above is done
 * Then it blocks reading stdin; at EOF (the parent closed the pipe, or died)
 * it destroys the links, closes the object and exits 0. Nothing is pinned,
 * so once it has exited the kernel frees the programs and the maps.
 *
 * On any failure: a message on stderr (libbpf's own warnings included) and
 * exit status 1. Usage errors: status 2.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_LINKS 64

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static __u32 fd_id(int fd, int is_map)
{
	struct bpf_map_info minfo;
	struct bpf_prog_info pinfo;
	__u32 len;

	if (is_map) {
		memset(&minfo, 0, sizeof(minfo));
		len = sizeof(minfo);
		if (bpf_obj_get_info_by_fd(fd, &minfo, &len))
			return 0;
		return minfo.id;
	}
	memset(&pinfo, 0, sizeof(pinfo));
	len = sizeof(pinfo);
	if (bpf_obj_get_info_by_fd(fd, &pinfo, &len))
		return 0;
	return pinfo.id;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS];
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	int nlinks = 0, err, i;
	char buf[256];

	if (argc != 2) {
		fprintf(stderr, "usage: attach OBJECT.bpf.o\n");
		return 2;
	}
	libbpf_set_print(print_libbpf);

	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "attach: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "attach: load %s: %s\n", argv[1], strerror(-err));
		bpf_object__close(obj);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (nlinks == MAX_LINKS) {
			fprintf(stderr, "attach: more than %d programs\n", MAX_LINKS);
			goto fail;
		}
		links[nlinks] = bpf_program__attach(prog);
		if (!links[nlinks]) {
			fprintf(stderr, "attach: attach %s: %s\n",
				bpf_program__name(prog), strerror(errno));
			goto fail;
		}
		nlinks++;
		printf("prog %s %u\n", bpf_program__name(prog),
		       fd_id(bpf_program__fd(prog), 0));
	}
	bpf_object__for_each_map(map, obj) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len)) {
			fprintf(stderr, "attach: map info %s: %s\n",
				bpf_map__name(map), strerror(errno));
			goto fail;
		}
		printf("map %s %u\n", info.name, info.id);
	}
	printf("ready\n");
	fflush(stdout);

	/* Block until the parent closes our stdin (or dies). */
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}

	for (i = nlinks - 1; i >= 0; i--)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return 0;

fail:
	for (i = nlinks - 1; i >= 0; i--)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return 1;
}
