/*
 * LD_PRELOADed into lua5.4 by `make test-valgrind` only.
 *
 * Valgrind 3.19 models bpf(BPF_OBJ_GET_INFO_BY_FD) as writing the info
 * struct itself, but not the buffers the info struct points to, which the
 * kernel fills too.  Everything read from them is then "uninitialised" to
 * memcheck: the whole BTF blob of btf__load_from_kernel_by_id (so every BTF
 * walk in libbpf and in bpfmap's btf_path.c) and a program's map ids
 * (discover.c).  Suppressing those reports would mean suppressing
 * uninitialised-value errors in bpfmap's own functions, i.e. hiding the bugs
 * memcheck is run to find.  Instead this wraps libc's syscall(), through
 * which libbpf makes every bpf() call, and after a successful
 * BPF_OBJ_GET_INFO_BY_FD marks as defined exactly the bytes the kernel
 * wrote there (the same min(asked, available) the kernel copies):
 *
 *   BTF object:  bpf_btf_info.btf, min(btf_size asked, btf_size returned)
 *   program:     bpf_prog_info.map_ids, min(nr_map_ids asked, returned) ids
 *
 * and after a successful element read, the buffer the kernel wrote:
 *
 *   BPF_MAP_LOOKUP_ELEM, BPF_MAP_LOOKUP_AND_DELETE_ELEM: attr->value, the
 *       map's value_size (per-CPU maps: round_up(value_size, 8) for each
 *       possible CPU)
 *   BPF_MAP_GET_NEXT_KEY: attr->next_key, the map's key_size
 *
 * and, for Object.load and Program.run (csrc/object.c, csrc/program.c):
 *
 *   BPF_PROG_LOAD (with a log level): attr->log_buf, up to and with its
 *       NUL (libbpf 1.1 passes an attr too short for log_true_size)
 *   BPF_PROG_TEST_RUN, on success or ENOSPC: attr->test.data_out and
 *       ctx_out, min(size given, size returned) bytes each
 *
 * Other nested buffers (a program's instructions, line info, ...) are left
 * alone: bpfmap never asks for them, and if it ever does memcheck will say
 * so rather than this file guessing.  Outside valgrind the client request
 * is a no-op, so children that inherit LD_PRELOAD are unaffected.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <valgrind/memcheck.h>

#define ENDS(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

static long (*real_syscall)(long, ...);

enum kind { OTHER, BTF, PROG };

/* what the descriptor is, from the anon inode's name in /proc/self/fd */
static enum kind fd_kind(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return OTHER;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:btf") == 0)
		return BTF;
	if (strcmp(link, "anon_inode:bpf-prog") == 0)
		return PROG;
	return OTHER;
}

static long bpf_get_info(union bpf_attr *attr, unsigned int size)
{
	__u32 len = attr->info.info_len, asked = 0;
	void *info = (void *)(unsigned long)attr->info.info;
	int saved = errno;
	enum kind kind = fd_kind((int)attr->info.bpf_fd);
	long rc;

	errno = saved;
	if (kind == BTF && len >= ENDS(struct bpf_btf_info, btf_size))
		asked = ((struct bpf_btf_info *)info)->btf_size;
	else if (kind == PROG && len >= ENDS(struct bpf_prog_info, map_ids))
		asked = ((struct bpf_prog_info *)info)->nr_map_ids;

	rc = real_syscall(__NR_bpf, (long)BPF_OBJ_GET_INFO_BY_FD, attr, (long)size);
	if (rc != 0 || asked == 0)
		return rc;
	saved = errno;
	if (kind == BTF) {
		struct bpf_btf_info *b = info;
		__u32 n = b->btf_size < asked ? b->btf_size : asked;

		if (b->btf)
			VALGRIND_MAKE_MEM_DEFINED((void *)(unsigned long)b->btf, n);
	} else {
		struct bpf_prog_info *p = info;
		__u32 n = p->nr_map_ids < asked ? p->nr_map_ids : asked;

		if (p->map_ids)
			VALGRIND_MAKE_MEM_DEFINED((void *)(unsigned long)p->map_ids,
			                          (size_t)n * sizeof(__u32));
	}
	errno = saved;
	return rc;
}

static int possible_cpus(void)
{
	static int n;
	char buf[128];
	FILE *f;
	int a, b, pos = 0, used;

	if (n)
		return n;
	f = fopen("/sys/devices/system/cpu/possible", "re");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return n = 1;
	}
	fclose(f);
	/* "0-1", "0,2-5", ... */
	while (sscanf(buf + pos, "%d%n", &a, &used) == 1) {
		pos += used;
		b = a;
		if (buf[pos] == '-' && sscanf(buf + pos + 1, "%d%n", &b, &used) == 1)
			pos += used + 1;
		n += b - a + 1;
		if (buf[pos] != ',')
			break;
		pos++;
	}
	return n ? n : (n = 1);
}

/* The map's key and value sizes as the kernel reports them. */
static int map_sizes(int fd, __u32 *key_size, size_t *value_bytes)
{
	struct bpf_map_info info;
	union bpf_attr attr;

	memset(&info, 0, sizeof(info));
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = (__u32)fd;
	attr.info.info_len = sizeof(info);
	attr.info.info = (__u64)(unsigned long)&info;
	if (real_syscall(__NR_bpf, (long)BPF_OBJ_GET_INFO_BY_FD, &attr, (long)sizeof(attr)))
		return -1;
	*key_size = info.key_size;
	switch (info.type) {
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
		*value_bytes = (size_t)((info.value_size + 7) & ~7u) * (size_t)possible_cpus();
		break;
	default:
		*value_bytes = info.value_size;
	}
	return 0;
}

static long bpf_elem_read(int cmd, union bpf_attr *attr, unsigned int size)
{
	long rc = real_syscall(__NR_bpf, (long)cmd, attr, (long)size);
	int saved = errno;
	__u32 key_size;
	size_t value_bytes;

	if (rc == 0 && map_sizes((int)attr->map_fd, &key_size, &value_bytes) == 0) {
		if (cmd == BPF_MAP_GET_NEXT_KEY && attr->next_key)
			VALGRIND_MAKE_MEM_DEFINED((void *)(unsigned long)attr->next_key, key_size);
		else if (cmd != BPF_MAP_GET_NEXT_KEY && attr->value)
			VALGRIND_MAKE_MEM_DEFINED((void *)(unsigned long)attr->value, value_bytes);
	}
	errno = saved;
	return rc;
}

static long bpf_prog_load(union bpf_attr *attr, unsigned int size)
{
	long rc = real_syscall(__NR_bpf, (long)BPF_PROG_LOAD, attr, (long)size);
	int saved = errno;
	char *log = (char *)(unsigned long)attr->log_buf;
	size_t n;

	if (log && attr->log_size && attr->log_level) {
		/* the kernel wrote a string; what follows its NUL it did not */
		VALGRIND_MAKE_MEM_DEFINED(log, attr->log_size);
		n = strnlen(log, attr->log_size);
		if (n + 1 < attr->log_size)
			VALGRIND_MAKE_MEM_UNDEFINED(log + n + 1, attr->log_size - n - 1);
	}
	errno = saved;
	return rc;
}

static long bpf_test_run(union bpf_attr *attr, unsigned int size)
{
	__u32 data_given = attr->test.data_size_out, ctx_given = attr->test.ctx_size_out;
	long rc = real_syscall(__NR_bpf, (long)BPF_PROG_TEST_RUN, attr, (long)size);
	int saved = errno;

	if (rc == 0 || saved == ENOSPC) {
		if (attr->test.data_out)
			VALGRIND_MAKE_MEM_DEFINED((void *)(unsigned long)attr->test.data_out,
			                          attr->test.data_size_out < data_given ?
			                          attr->test.data_size_out : data_given);
		if (attr->test.ctx_out)
			VALGRIND_MAKE_MEM_DEFINED((void *)(unsigned long)attr->test.ctx_out,
			                          attr->test.ctx_size_out < ctx_given ?
			                          attr->test.ctx_size_out : ctx_given);
	}
	errno = saved;
	return rc;
}

long syscall(long nr, ...)
{
	long a[6];
	va_list ap;

	if (!real_syscall)
		real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	va_start(ap, nr);
	if (nr == __NR_bpf) {
		int cmd = va_arg(ap, int);	/* libbpf passes an enum bpf_cmd */
		union bpf_attr *attr = va_arg(ap, union bpf_attr *);
		unsigned int size = va_arg(ap, unsigned int);

		va_end(ap);
		if (cmd == BPF_OBJ_GET_INFO_BY_FD && attr && size >= ENDS(union bpf_attr, info.info))
			return bpf_get_info(attr, size);
		if ((cmd == BPF_MAP_LOOKUP_ELEM || cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM ||
		     cmd == BPF_MAP_GET_NEXT_KEY) && attr && size >= ENDS(union bpf_attr, next_key))
			return bpf_elem_read(cmd, attr, size);
		if (cmd == BPF_PROG_LOAD && attr && size >= ENDS(union bpf_attr, log_buf))
			return bpf_prog_load(attr, size);
		if (cmd == BPF_PROG_TEST_RUN && attr && size >= ENDS(union bpf_attr, test.ctx_out))
			return bpf_test_run(attr, size);
		return real_syscall(nr, (long)cmd, attr, (long)size);
	}
	/* as glibc's own syscall(): six argument registers, used or not */
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
