/*
 * Unit tests for csrc/btf_path.c against synthetic BTF built with libbpf's
 * writer API: ktstr's resolver cases (shared/reference/ktstr-bpfmapwrite.md)
 * first, then what bpfmap adds (typedef/modifier stripping, anonymous
 * members, arrays, pointers, enums, bools, signedness, error messages,
 * termination on cyclic BTF).  No framework, no Lua:
 * `make build/tests/test_btf_path`.
 *
 * KNOWN_BUG(cond, ...) marks a check of the correct behaviour that the
 * current csrc fails: it is reported but not counted as a failure (run with
 * --strict to count it).  Once the bug is fixed the check passes silently and
 * can become a plain CHECK.
 */
#include "../csrc/btf_path.h"
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static int known_bugs, strict;

#define KNOWN_BUG(cond, ...)                                                 \
	do {                                                                 \
		if (cond) {                                                  \
			passed++;                                            \
		} else {                                                     \
			if (strict)                                          \
				failed++;                                    \
			else                                                 \
				known_bugs++;                                \
			printf("%s %s:%d: %s: ", strict ? "FAIL" : "KNOWN BUG", \
			       __FILE__, __LINE__, #cond);                   \
			printf(__VA_ARGS__);                                 \
			printf("\n");                                        \
		}                                                            \
	} while (0)

/* A writer call that must succeed: the test is meaningless otherwise. */
static int must_(int id, const char *what, int line)
{
	if (id < 0) {
		fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, line, what, id);
		exit(2);
	}
	return id;
}
#define T(call) must_((call), #call, __LINE__)

static struct btf *new_btf(void)
{
	struct btf *btf = btf__new_empty();

	if (!btf) {
		fprintf(stderr, "btf__new_empty failed\n");
		exit(2);
	}
	return btf;
}

/* Expect success with this offset, size, signedness and kind. */
static void ok_(int line, bool bug, const struct btf *btf, __u32 id, const char *path,
                __u32 off, __u32 size, bool is_signed, enum bpfmap_leaf_kind kind,
                const char *type_name)
{
	struct bpfmap_leaf leaf;
	char err[512];
	int rc;

	memset(&leaf, 0xa5, sizeof(leaf));
	strcpy(err, "(untouched)");
	rc = bpfmap_btf_resolve(btf, id, path, &leaf, err, sizeof(err));
	if (rc != 0) {
		bug && !strict ? known_bugs++ : failed++;
		printf("%s %s:%d: '%s': want (%u,%u), got %d \"%s\"\n",
		       bug && !strict ? "KNOWN BUG" : "FAIL", __FILE__, line, path, off, size, rc, err);
		return;
	}
	if (leaf.offset != off || leaf.size != size || leaf.is_signed != is_signed ||
	    leaf.kind != kind || (type_name && strcmp(leaf.type_name, type_name) != 0)) {
		bug && !strict ? known_bugs++ : failed++;
		printf("%s %s:%d: '%s': want (%u,%u,%s,kind %d,%s), got (%u,%u,%s,kind %d,%s)\n",
		       bug && !strict ? "KNOWN BUG" : "FAIL", __FILE__, line, path, off, size,
		       is_signed ? "signed" : "unsigned", kind,
		       type_name ? type_name : "*", leaf.offset, leaf.size,
		       leaf.is_signed ? "signed" : "unsigned", leaf.kind, leaf.type_name);
		return;
	}
	passed++;
}

#define OK_U(btf, id, path, off, size) \
	ok_(__LINE__, false, btf, id, path, off, size, false, BPFMAP_LEAF_INT, NULL)
#define OK_S(btf, id, path, off, size) \
	ok_(__LINE__, false, btf, id, path, off, size, true, BPFMAP_LEAF_INT, NULL)
#define OK(btf, id, path, off, size, sgn, kind, tname) \
	ok_(__LINE__, false, btf, id, path, off, size, sgn, kind, tname)
/* OK_U of a check the current csrc is known to fail (see KNOWN_BUG) */
#define OK_U_BUG(btf, id, path, off, size) \
	ok_(__LINE__, true, btf, id, path, off, size, false, BPFMAP_LEAF_INT, NULL)

/*
 * Expect -errnum and every NULL-terminated substring in the message; the
 * message must be NUL-terminated inside the buffer.
 */
static void err_(int line, bool bug, const struct btf *btf, __u32 id, const char *path,
                 int errnum, ...)
{
	struct bpfmap_leaf leaf;
	char err[512];
	const char *want, *missing = NULL;
	va_list ap;
	int rc;

	memset(err, 'X', sizeof(err));
	rc = bpfmap_btf_resolve(btf, id, path, &leaf, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)))
		strcpy(err + sizeof(err) - 16, "<unterminated>");
	va_start(ap, errnum);
	while ((want = va_arg(ap, const char *)))
		if (!missing && !strstr(err, want))
			missing = want;
	va_end(ap);
	if (rc == -errnum && !missing) {
		passed++;
		return;
	}
	if (bug && !strict)
		known_bugs++;
	else
		failed++;
	printf("%s %s:%d: '%s': want %s%s%s, got %d (%s) \"%s\"",
	       bug && !strict ? "KNOWN BUG" : "FAIL", __FILE__, line,
	       path ? path : "(null)", errnum == ENOENT ? "-ENOENT" : "-EINVAL",
	       missing ? " with " : "", missing ? missing : "", rc,
	       rc ? strerror(-rc) : "success", rc ? err : "");
	if (rc == 0)
		printf(" -> (%u,%u)", leaf.offset, leaf.size);
	printf("\n");
}

#define ERR(btf, id, path, errnum, ...) err_(__LINE__, false, btf, id, path, errnum, ##__VA_ARGS__, NULL)
#define ERR_BUG(btf, id, path, errnum, ...) err_(__LINE__, true, btf, id, path, errnum, ##__VA_ARGS__, NULL)

/*
 * Run fn(arg) in a child that must finish within secs: resolving a path
 * over cyclic or pathological BTF must terminate, not hang the caller.
 */
static bool finishes_within(unsigned secs, void (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		alarm(secs);
		fn(arg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Common scalar types, added first to every BTF. */
struct scalars {
	int u8, u16, u32, u64, s8, s16, s32, s64;
};

static void add_scalars(struct btf *btf, struct scalars *s)
{
	s->u8 = T(btf__add_int(btf, "unsigned char", 1, 0));
	s->u16 = T(btf__add_int(btf, "unsigned short", 2, 0));
	s->u32 = T(btf__add_int(btf, "unsigned int", 4, 0));
	s->u64 = T(btf__add_int(btf, "unsigned long long", 8, 0));
	s->s8 = T(btf__add_int(btf, "signed char", 1, BTF_INT_SIGNED));
	s->s16 = T(btf__add_int(btf, "short", 2, BTF_INT_SIGNED));
	s->s32 = T(btf__add_int(btf, "int", 4, BTF_INT_SIGNED));
	s->s64 = T(btf__add_int(btf, "long long", 8, BTF_INT_SIGNED));
}

/* ---- ktstr's resolver cases ------------------------------------------ */

static void test_ktstr_struct(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int cpu_ctx;

	add_scalars(btf, &s);
	/* struct cpu_ctx { u32 lat_headroom @8; u16 lat_cri @12 } */
	cpu_ctx = T(btf__add_struct(btf, "cpu_ctx", 16));
	T(btf__add_field(btf, "lat_headroom", s.u32, 64, 0));
	T(btf__add_field(btf, "lat_cri", s.u16, 96, 0));

	OK_U(btf, cpu_ctx, "lat_headroom", 8, 4);
	OK_U(btf, cpu_ctx, "lat_cri", 12, 2);
	ERR(btf, cpu_ctx, "nope", ENOENT, "'nope'", "struct cpu_ctx", "lat_headroom, lat_cri");
	ERR(btf, cpu_ctx, "", EINVAL, "empty path");
	ERR(btf, cpu_ctx, NULL, EINVAL, "empty path");
	ERR(btf, 0, "lat_headroom", EINVAL, "type id 0");
	/* An id past the end of the BTF is as absent as 0. */
	ERR(btf, 12345, "lat_headroom", EINVAL, "12345");
	/* A scalar value type has no members. */
	ERR(btf, s.u32, "lat_headroom", EINVAL, "unsigned int", "not a DATASEC, struct or union");
	{
		struct bpfmap_leaf leaf;
		char err[64];

		CHECK(bpfmap_btf_resolve(btf, cpu_ctx, "lat_headroom", &leaf, err, sizeof(err)) == 0,
		      "%s", err);
		CHECK(leaf.type_id == (__u32)s.u32, "type_id %u, want %d", leaf.type_id, s.u32);
		CHECK(strcmp(leaf.type_name, "unsigned int") == 0, "type_name \"%s\"", leaf.type_name);
		/* errlen 0: no message, same answer. */
		CHECK(bpfmap_btf_resolve(btf, cpu_ctx, "nope", &leaf, NULL, 0) == -ENOENT, "errlen 0");
		/* A small buffer truncates and terminates the message. */
		memset(err, 'X', sizeof(err));
		CHECK(bpfmap_btf_resolve(btf, cpu_ctx, "nope", &leaf, err, 8) == -ENOENT, "errlen 8");
		CHECK(strlen(err) == 7 && err[8] == 'X', "truncated message \"%.8s\"", err);
	}
	btf__free(btf);
}

static void test_ktstr_datasec(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int st, var, bss, crash, data, pad;

	add_scalars(btf, &s);
	/* struct sys_stat { u32 pad @0; u32 avg_lat_cri @4 } */
	st = T(btf__add_struct(btf, "sys_stat", 8));
	T(btf__add_field(btf, "pad", s.u32, 0, 0));
	T(btf__add_field(btf, "avg_lat_cri", s.u32, 32, 0));
	pad = T(btf__add_var(btf, "other", BTF_VAR_GLOBAL_ALLOCATED, s.u64));
	var = T(btf__add_var(btf, "sys_stat", BTF_VAR_GLOBAL_ALLOCATED, st));
	bss = T(btf__add_datasec(btf, ".bss", 136));
	T(btf__add_datasec_var_info(btf, pad, 0, 8));
	T(btf__add_datasec_var_info(btf, var, 128, 8));

	OK_U(btf, bss, "sys_stat.avg_lat_cri", 132, 4);
	OK_U(btf, bss, "sys_stat.pad", 128, 4);
	OK_U(btf, bss, "other", 0, 8);
	ERR(btf, bss, "nope.x", ENOENT, "no variable 'nope' in .bss (it has: other, sys_stat)");
	ERR(btf, bss, "nope", ENOENT, "no variable 'nope' in .bss");
	ERR(btf, bss, "sys_stat.nope", ENOENT, "no member 'nope' in 'sys_stat'", "struct sys_stat",
	    "it has: pad, avg_lat_cri");
	ERR(btf, bss, "sys_stat", EINVAL, "struct sys_stat");
	/* The VAR's own name is no member of the section's first VAR. */
	ERR(btf, bss, "avg_lat_cri", ENOENT, "'avg_lat_cri'");

	/* DATASEC with int crash at 216. */
	crash = T(btf__add_var(btf, "crash", BTF_VAR_GLOBAL_ALLOCATED, s.s32));
	data = T(btf__add_datasec(btf, ".data", 220));
	T(btf__add_datasec_var_info(btf, crash, 216, 4));
	OK_S(btf, data, "crash", 216, 4);
	ERR(btf, data, "crash.x", EINVAL, "'crash'", "int", "no member 'x'");
	ERR(btf, data, "sys_stat", ENOENT, "no variable 'sys_stat' in .data (it has: crash)");

	/* An empty section lists nothing. */
	{
		int empty = T(btf__add_datasec(btf, ".rodata", 0));

		ERR(btf, empty, "x", ENOENT, "no variable 'x' in .rodata (it has: nothing)");
	}
	btf__free(btf);
}

static void test_ktstr_nested(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int inner, outer;

	add_scalars(btf, &s);
	inner = T(btf__add_struct(btf, "inner", 4));
	T(btf__add_field(btf, "x", s.u32, 0, 0));
	outer = T(btf__add_struct(btf, "outer", 8));
	T(btf__add_field(btf, "a", s.u32, 0, 0));
	T(btf__add_field(btf, "inner", inner, 32, 0));

	ERR(btf, outer, "inner", EINVAL, "'inner' is struct inner");
	OK_U(btf, outer, "inner.x", 4, 4);
	ERR(btf, outer, "inner.y", ENOENT, "no member 'y' in 'inner'", "it has: x");
	ERR(btf, outer, "inner.x.z", EINVAL, "'inner.x' is unsigned int, which has no member 'z'");
	OK_U(btf, outer, "a", 0, 4);
	btf__free(btf);
}

static void test_ktstr_bitfields(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int bf;

	add_scalars(btf, &s);
	/* struct bf { u32 flags:4; u32 more:3; u32 plain; u16 tail; } */
	bf = T(btf__add_struct(btf, "bf", 12));
	T(btf__add_field(btf, "flags", s.u32, 0, 4));
	T(btf__add_field(btf, "more", s.u32, 4, 3));
	T(btf__add_field(btf, "plain", s.u32, 32, 0));
	T(btf__add_field(btf, "tail", s.u16, 64, 0));
	CHECK(btf_kflag(btf__type_by_id(btf, bf)), "struct with bitfields has no kind_flag");

	ERR(btf, bf, "flags", EINVAL, "bitfield");
	ERR(btf, bf, "more", EINVAL, "bitfield");
	OK_U(btf, bf, "plain", 4, 4);
	OK_U(btf, bf, "tail", 8, 2);
	btf__free(btf);

	/* A kind_flag bitfield whose width is whole and aligned is still one. */
	btf = new_btf();
	add_scalars(btf, &s);
	bf = T(btf__add_struct(btf, "bf2", 8));
	T(btf__add_field(btf, "whole", s.u32, 0, 32));
	T(btf__add_field(btf, "plain", s.u32, 32, 0));
	ERR(btf, bf, "whole", EINVAL, "bitfield");
	OK_U(btf, bf, "plain", 4, 4);
	btf__free(btf);
}

/*
 * Without kind_flag a bitfield is a member whose INT type has fewer bits
 * than its size (or a bit offset), at any bit offset.  The writer API only
 * makes kind_flag bitfields, so patch the types it wrote in place.
 */
static void test_legacy_bitfields(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	struct btf_type *t;
	int bits4, shifted, st;

	add_scalars(btf, &s);
	bits4 = T(btf__add_int(btf, "unsigned int", 4, 0));
	shifted = T(btf__add_int(btf, "unsigned int", 4, 0));
	st = T(btf__add_struct(btf, "legacy", 12));
	T(btf__add_field(btf, "flags", bits4, 0, 0));
	T(btf__add_field(btf, "plain", s.u32, 32, 0));
	T(btf__add_field(btf, "hi", shifted, 64, 0));
	T(btf__add_field(btf, "odd", s.u8, 72, 0));
	/* flags: 4 bits; hi: 28 bits at INT offset 4; odd: at bit 76 */
	t = (struct btf_type *)btf__type_by_id(btf, bits4);
	*(__u32 *)(t + 1) = 4;
	t = (struct btf_type *)btf__type_by_id(btf, shifted);
	*(__u32 *)(t + 1) = (4u << 16) | 28;
	t = (struct btf_type *)btf__type_by_id(btf, st);
	btf_members(t)[3].offset = 76;
	CHECK(!btf_kflag(t), "legacy struct has kind_flag");

	ERR(btf, st, "flags", EINVAL, "bitfield");
	OK_U(btf, st, "plain", 4, 4);
	ERR(btf, st, "hi", EINVAL, "bitfield");
	ERR(btf, st, "odd", EINVAL, "bitfield");
	btf__free(btf);
}

/* ---- bpfmap's extras -------------------------------------------------- */

static void test_modifiers(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int vol, cst, u32_t, my_u32, cmy, rst, tag, ptr, st, td_st, td_td;

	add_scalars(btf, &s);
	vol = T(btf__add_volatile(btf, s.u32));
	cst = T(btf__add_const(btf, vol));
	u32_t = T(btf__add_typedef(btf, "u32_t", cst));
	my_u32 = T(btf__add_typedef(btf, "my_u32", u32_t));
	cmy = T(btf__add_const(btf, my_u32));
	ptr = T(btf__add_ptr(btf, s.u32));
	rst = T(btf__add_restrict(btf, ptr));
	tag = T(btf__add_type_tag(btf, "user", s.s16));
	st = T(btf__add_struct(btf, "mods", 16));
	T(btf__add_field(btf, "a", my_u32, 0, 0));
	T(btf__add_field(btf, "b", cmy, 32, 0));
	T(btf__add_field(btf, "c", tag, 64, 0));
	T(btf__add_field(btf, "d", vol, 96, 0));
	/* restrict on a pointer: still a pointer. */
	T(btf__add_field(btf, "p", rst, 0, 0));
	td_st = T(btf__add_typedef(btf, "mods_t", st));
	td_td = T(btf__add_const(btf, td_st));

	OK(btf, st, "a", 0, 4, false, BPFMAP_LEAF_INT, "my_u32");
	OK(btf, st, "b", 4, 4, false, BPFMAP_LEAF_INT, "const my_u32");
	OK(btf, st, "c", 8, 2, true, BPFMAP_LEAF_INT, NULL);
	OK(btf, st, "d", 12, 4, false, BPFMAP_LEAF_INT, "volatile unsigned int");
	ERR(btf, st, "p", EINVAL, "'p' is");
	{
		struct bpfmap_leaf leaf;
		char err[256];

		CHECK(bpfmap_btf_resolve(btf, st, "b", &leaf, err, sizeof(err)) == 0, "%s", err);
		CHECK(leaf.type_id == (__u32)cmy, "type_id %u is not the declared %d", leaf.type_id, cmy);
	}
	/* A typedef'd (and const) value type is stripped too. */
	OK(btf, td_st, "a", 0, 4, false, BPFMAP_LEAF_INT, "my_u32");
	OK(btf, td_td, "c", 8, 2, true, BPFMAP_LEAF_INT, NULL);
	ERR(btf, td_st, "zz", ENOENT, "no member 'zz'", "it has: a, b, c, d, p");
	btf__free(btf);
}

static void test_anonymous(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int un, as, deep_u, deep_s, outer, td_anon;

	add_scalars(btf, &s);
	/* union { u32 b; u16 c; } */
	un = T(btf__add_union(btf, NULL, 4));
	T(btf__add_field(btf, "b", s.u32, 0, 0));
	T(btf__add_field(btf, "c", s.u16, 0, 0));
	/* struct { u32 d; u32 e; } */
	as = T(btf__add_struct(btf, "", 8));
	T(btf__add_field(btf, "d", s.u32, 0, 0));
	T(btf__add_field(btf, "e", s.u32, 32, 0));
	/* struct { union { u64 deep; }; } nested two levels down */
	deep_u = T(btf__add_union(btf, NULL, 8));
	T(btf__add_field(btf, "deep", s.u64, 0, 0));
	deep_s = T(btf__add_struct(btf, NULL, 16));
	T(btf__add_field(btf, "pre", s.u64, 0, 0));
	T(btf__add_field(btf, NULL, deep_u, 64, 0));
	/* an anonymous member through a const (as `const struct {...};`) */
	td_anon = T(btf__add_const(btf, as));
	/* struct outer { u32 a; union {..}; struct {..}; struct {..}; const struct {..} } */
	outer = T(btf__add_struct(btf, "outer", 48));
	T(btf__add_field(btf, "a", s.u32, 0, 0));
	T(btf__add_field(btf, NULL, un, 32, 0));
	T(btf__add_field(btf, NULL, as, 64, 0));
	T(btf__add_field(btf, NULL, deep_s, 128, 0));
	T(btf__add_field(btf, "named", as, 256, 0));
	T(btf__add_field(btf, NULL, s.u32, 320, 4)); /* unnamed padding bitfield */
	(void)td_anon;

	OK_U(btf, outer, "a", 0, 4);
	OK_U(btf, outer, "b", 4, 4);
	OK_U(btf, outer, "c", 4, 2);
	/* the first match wins, as in C (d/e also exist under "named") */
	OK_U(btf, outer, "d", 8, 4);
	OK_U(btf, outer, "e", 12, 4);
	OK_U(btf, outer, "pre", 16, 8);
	OK_U(btf, outer, "deep", 24, 8);
	OK_U(btf, outer, "named.d", 32, 4);
	OK_U(btf, outer, "named.e", 36, 4);
	ERR(btf, outer, "nope", ENOENT, "it has: a, b, c, d, e, pre, deep, named");
	/* An anonymous union as the map value itself. */
	OK_U(btf, un, "c", 0, 2);
	btf__free(btf);

	/* Anonymous members under a DATASEC VAR, and through a const. */
	btf = new_btf();
	add_scalars(btf, &s);
	as = T(btf__add_struct(btf, NULL, 8));
	T(btf__add_field(btf, "x", s.u32, 0, 0));
	T(btf__add_field(btf, "y", s.u32, 32, 0));
	td_anon = T(btf__add_const(btf, as));
	outer = T(btf__add_struct(btf, "holder", 12));
	T(btf__add_field(btf, "h", s.u32, 0, 0));
	T(btf__add_field(btf, NULL, td_anon, 32, 0));
	{
		int var = T(btf__add_var(btf, "g", BTF_VAR_GLOBAL_ALLOCATED, outer));
		int sec = T(btf__add_datasec(btf, ".data", 24));

		T(btf__add_datasec_var_info(btf, var, 12, 12));
		OK_U(btf, sec, "g.y", 20, 4);
		OK_U(btf, sec, "g.x", 16, 4);
		ERR(btf, sec, "g.z", ENOENT, "it has: h, x, y");
	}
	btf__free(btf);
}

static void test_arrays(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int arr4, pt, slots, row, grid, st, gst, var, sec, arr_td;

	add_scalars(btf, &s);
	arr4 = T(btf__add_array(btf, s.u32, s.u32, 4));
	pt = T(btf__add_struct(btf, "pt", 8));
	T(btf__add_field(btf, "x", s.u32, 0, 0));
	T(btf__add_field(btf, "y", s.u32, 32, 0));
	slots = T(btf__add_array(btf, s.u32, pt, 4));
	row = T(btf__add_array(btf, s.u32, s.u8, 4));
	grid = T(btf__add_array(btf, s.u32, row, 3)); /* u8 grid[3][4] */
	arr_td = T(btf__add_typedef(btf, "quad_t", arr4));
	/* struct st { u32 arr[4]; struct pt slots[4]; u32 n; quad_t q; } */
	st = T(btf__add_struct(btf, "st", 68));
	T(btf__add_field(btf, "arr", arr4, 0, 0));
	T(btf__add_field(btf, "slots", slots, 128, 0));
	T(btf__add_field(btf, "n", s.u32, 384, 0));
	T(btf__add_field(btf, "q", arr_td, 416, 0));
	gst = T(btf__add_struct(btf, "g", 12));
	T(btf__add_field(btf, "grid", grid, 0, 0));

	OK_U(btf, st, "arr[0]", 0, 4);
	OK_U(btf, st, "arr[3]", 12, 4);
	ERR(btf, st, "arr[4]", ENOENT, "out of bounds", "index 4", "4 elements");
	ERR(btf, st, "arr[4294967295]", ENOENT, "out of bounds");
	ERR(btf, st, "arr[99999999999999999999]", ENOENT, "out of bounds");
	ERR(btf, st, "arr", EINVAL, "unsigned int[4]");
	OK_U(btf, st, "slots[2].y", 16 + 16 + 4, 4);
	OK_U(btf, st, "slots[0].x", 16, 4);
	OK_U(btf, st, "slots[3].y", 16 + 24 + 4, 4);
	ERR(btf, st, "slots[4].x", ENOENT, "out of bounds");
	ERR(btf, st, "slots[1]", EINVAL, "struct pt");
	ERR(btf, st, "slots.x", EINVAL, "'slots'", "no member 'x'");
	ERR(btf, st, "slots[1].z", ENOENT, "no member 'z' in 'slots[1]'", "it has: x, y");
	ERR(btf, st, "slots[1][0]", EINVAL, "not an array");
	ERR(btf, st, "n[0]", EINVAL, "'n[0]': cannot index unsigned int, it is not an array");
	OK_U(btf, st, "q[1]", 56, 4);
	OK_U(btf, gst, "grid[1][2]", 6, 1);
	OK_U(btf, gst, "grid[0][0]", 0, 1);
	OK_U(btf, gst, "grid[2][3]", 11, 1);
	ERR(btf, gst, "grid[3][0]", ENOENT, "out of bounds");
	ERR(btf, gst, "grid[0][4]", ENOENT, "out of bounds");
	ERR(btf, gst, "grid[1]", EINVAL, "is");
	ERR(btf, gst, "grid[1][1][1]", EINVAL, "not an array");
	/* Malformed indices, if the caller skipped names.c. */
	ERR(btf, st, "arr[", EINVAL, "malformed");
	ERR(btf, st, "arr[]", EINVAL, "malformed");
	ERR(btf, st, "arr[x]", EINVAL, "malformed");
	ERR(btf, st, "arr[-1]", EINVAL, "malformed");
	ERR(btf, st, "arr[1]x", EINVAL, "malformed");
	ERR(btf, st, "arr[1", EINVAL, "malformed");
	ERR(btf, st, "[1]", EINVAL, "malformed");
	ERR(btf, st, "arr..b", EINVAL, "malformed");
	ERR(btf, st, "slots[1]..x", EINVAL, "malformed");
	/* Malformed is malformed whether or not a prefix resolves. */
	ERR(btf, st, "a..b", EINVAL, "malformed");
	ERR(btf, st, "nope.", EINVAL, "malformed");
	ERR(btf, st, ".arr", EINVAL, "malformed");
	ERR(btf, st, "arr.", EINVAL, "malformed");
	ERR(btf, st, "slots[1].", EINVAL, "malformed");

	/* An array VAR in a DATASEC, indexed at the first segment. */
	var = T(btf__add_var(btf, "counts", BTF_VAR_GLOBAL_ALLOCATED, arr4));
	sec = T(btf__add_datasec(btf, ".bss", 48));
	T(btf__add_datasec_var_info(btf, var, 32, 16));
	OK_U(btf, sec, "counts[2]", 40, 4);
	ERR(btf, sec, "counts[9]", ENOENT, "out of bounds");
	btf__free(btf);
}

static void test_pointers(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int node, ptr, fptr, proto;

	add_scalars(btf, &s);
	/* struct node { u32 x; struct node *p; void (*fn)(void); } */
	/* btf__type_cnt() is the id the next type gets: ptr, then node. */
	ptr = T(btf__add_ptr(btf, (int)btf__type_cnt(btf) + 1));
	node = T(btf__add_struct(btf, "node", 24));
	T(btf__add_field(btf, "x", s.u32, 0, 0));
	T(btf__add_field(btf, "p", ptr, 64, 0));
	T(btf__add_field(btf, "fn", ptr + 3, 128, 0));
	proto = T(btf__add_func_proto(btf, 0));
	fptr = T(btf__add_ptr(btf, proto));
	CHECK(fptr == ptr + 3, "fptr id %d", fptr);

	OK_U(btf, node, "x", 0, 4);
	ERR(btf, node, "p.x", EINVAL, "pointer", "'p'", "struct node *");
	ERR(btf, node, "p", EINVAL, "struct node *");
	ERR(btf, node, "p[0]", EINVAL, "not an array");
	ERR(btf, node, "fn", EINVAL, "'fn' is");
	ERR(btf, node, "fn.x", EINVAL, "pointer");
	btf__free(btf);
}

static void test_leaf_kinds(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int flt, dbl, mode, neg, small, e64, e64s, bool_t, chr, i128, u128, st;

	add_scalars(btf, &s);
	flt = T(btf__add_float(btf, "float", 4));
	dbl = T(btf__add_float(btf, "double", 8));
	mode = T(btf__add_enum(btf, "mode", 4));
	T(btf__add_enum_value(btf, "MODE_A", 0));
	T(btf__add_enum_value(btf, "MODE_B", 7));
	neg = T(btf__add_enum(btf, "sgn", 4));
	T(btf__add_enum_value(btf, "NEG", -1));
	small = T(btf__add_enum(btf, "tiny", 1));
	T(btf__add_enum_value(btf, "T0", 0));
	e64 = T(btf__add_enum64(btf, "big", 8, false));
	T(btf__add_enum64_value(btf, "BIG", 1ULL << 40));
	e64s = T(btf__add_enum64(btf, "bigs", 8, true));
	T(btf__add_enum64_value(btf, "BIGS", 1));
	bool_t = T(btf__add_int(btf, "_Bool", 1, BTF_INT_BOOL));
	chr = T(btf__add_int(btf, "char", 1, BTF_INT_CHAR));
	i128 = T(btf__add_int(btf, "__int128", 16, BTF_INT_SIGNED));
	u128 = T(btf__add_int(btf, "unsigned __int128", 16, 0));
	st = T(btf__add_struct(btf, "leaves", 128));
	T(btf__add_field(btf, "f", flt, 0, 0));
	T(btf__add_field(btf, "d", dbl, 64, 0));
	T(btf__add_field(btf, "m", mode, 128, 0));
	T(btf__add_field(btf, "neg", neg, 160, 0));
	T(btf__add_field(btf, "t", small, 192, 0));
	T(btf__add_field(btf, "b", bool_t, 200, 0));
	T(btf__add_field(btf, "c", chr, 208, 0));
	T(btf__add_field(btf, "e64", e64, 256, 0));
	T(btf__add_field(btf, "e64s", e64s, 320, 0));
	T(btf__add_field(btf, "i128", i128, 384, 0));
	T(btf__add_field(btf, "u128", u128, 512, 0));
	T(btf__add_field(btf, "u8", s.u8, 640, 0));
	T(btf__add_field(btf, "u16", s.u16, 656, 0));
	T(btf__add_field(btf, "u32", s.u32, 672, 0));
	T(btf__add_field(btf, "u64", s.u64, 704, 0));
	T(btf__add_field(btf, "s8", s.s8, 768, 0));
	T(btf__add_field(btf, "s16", s.s16, 784, 0));
	T(btf__add_field(btf, "s32", s.s32, 800, 0));
	T(btf__add_field(btf, "s64", s.s64, 832, 0));

	ERR(btf, st, "f", EINVAL, "float");
	ERR(btf, st, "d", EINVAL, "double");
	OK(btf, st, "m", 16, 4, false, BPFMAP_LEAF_ENUM, "enum mode");
	OK(btf, st, "neg", 20, 4, true, BPFMAP_LEAF_ENUM, "enum sgn");
	OK(btf, st, "t", 24, 1, false, BPFMAP_LEAF_ENUM, "enum tiny");
	OK(btf, st, "e64", 32, 8, false, BPFMAP_LEAF_ENUM, "enum big");
	OK(btf, st, "e64s", 40, 8, true, BPFMAP_LEAF_ENUM, "enum bigs");
	OK(btf, st, "b", 25, 1, false, BPFMAP_LEAF_BOOL, "_Bool");
	OK(btf, st, "c", 26, 1, false, BPFMAP_LEAF_INT, "char");
	ERR(btf, st, "i128", EINVAL, "16 bytes");
	ERR(btf, st, "u128", EINVAL, "16 bytes");
	OK(btf, st, "u8", 80, 1, false, BPFMAP_LEAF_INT, "unsigned char");
	OK(btf, st, "u16", 82, 2, false, BPFMAP_LEAF_INT, "unsigned short");
	OK(btf, st, "u32", 84, 4, false, BPFMAP_LEAF_INT, "unsigned int");
	OK(btf, st, "u64", 88, 8, false, BPFMAP_LEAF_INT, "unsigned long long");
	OK(btf, st, "s8", 96, 1, true, BPFMAP_LEAF_INT, "signed char");
	OK(btf, st, "s16", 98, 2, true, BPFMAP_LEAF_INT, "short");
	OK(btf, st, "s32", 100, 4, true, BPFMAP_LEAF_INT, "int");
	OK(btf, st, "s64", 104, 8, true, BPFMAP_LEAF_INT, "long long");
	btf__free(btf);
}

/* A member whose type id does not exist, and a FWD (incomplete) struct. */
static void test_broken_types(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int fwd, st;

	add_scalars(btf, &s);
	fwd = T(btf__add_fwd(btf, "opaque", BTF_FWD_STRUCT));
	st = T(btf__add_struct(btf, "broken", 16));
	T(btf__add_field(btf, "ghost", 5000, 0, 0));
	T(btf__add_field(btf, "o", fwd, 32, 0));
	T(btf__add_field(btf, "ok", s.u32, 64, 0));

	ERR(btf, st, "ghost", EINVAL, "bad");
	ERR(btf, st, "ghost.x", EINVAL, "bad");
	ERR(btf, st, "ghost[0]", EINVAL, "bad");
	ERR(btf, st, "o", EINVAL, "struct opaque");
	ERR(btf, st, "o.x", EINVAL, "struct opaque");
	OK_U(btf, st, "ok", 8, 4);
	btf__free(btf);
}

/* ---- cyclic and pathological BTF must not hang ------------------------ */

struct cyc {
	struct btf *btf;
	__u32 id;
	const char *path;
	int want;
	int or_want;  /* another acceptable answer, e.g. -EINVAL for "gave up" */
};

static void resolve_in_child(void *arg)
{
	struct cyc *c = arg;
	struct bpfmap_leaf leaf;
	char err[256];
	int rc = bpfmap_btf_resolve(c->btf, c->id, c->path, &leaf, err, sizeof(err));

	if (rc != c->want && (!c->or_want || rc != c->or_want)) {
		printf("    '%s': got %d \"%s\", want %d\n", c->path, rc, rc ? err : "", c->want);
		fflush(stdout);
		_exit(1);
	}
}

static void test_cycles(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int a, b, ca, cb, st, self, wide, i;
	struct cyc c;
	char buf[128];

	add_scalars(btf, &s);
	/* typedef A -> B, typedef B -> A, by forward id */
	a = T(btf__add_typedef(btf, "A", (int)btf__type_cnt(btf) + 1));
	b = T(btf__add_typedef(btf, "B", a));
	/* const -> volatile -> const */
	ca = T(btf__add_const(btf, (int)btf__type_cnt(btf) + 1));
	cb = T(btf__add_volatile(btf, ca));
	st = T(btf__add_struct(btf, "loops", 16));
	T(btf__add_field(btf, "m", a, 0, 0));
	T(btf__add_field(btf, "k", cb, 32, 0));
	T(btf__add_field(btf, NULL, b, 64, 0));    /* anonymous member of a cyclic type */
	T(btf__add_field(btf, "ok", s.u32, 96, 0));

	c = (struct cyc){ btf, st, "m", -EINVAL, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "typedef cycle leaf: hang or wrong answer");
	c = (struct cyc){ btf, st, "m.x", -EINVAL, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "typedef cycle member: hang or wrong answer");
	c = (struct cyc){ btf, st, "m[1]", -EINVAL, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "typedef cycle index: hang or wrong answer");
	c = (struct cyc){ btf, st, "k", -EINVAL, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "modifier cycle: hang or wrong answer");
	c = (struct cyc){ btf, st, "ok", 0, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "member after a cyclic anonymous member");
	c = (struct cyc){ btf, st, "nope", -ENOENT, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "missing member beside cyclic types");
	c = (struct cyc){ btf, a, "x", -EINVAL, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "cyclic value type");
	c = (struct cyc){ btf, ca, "x", -EINVAL, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "cyclic modifier value type");
	bpfmap_btf_type_str(btf, ca, buf, sizeof(buf));
	CHECK(strlen(buf) < sizeof(buf) && strncmp(buf, "const volatile const", 20) == 0,
	      "type_str of a modifier cycle: \"%s\"", buf);
	ERR(btf, st, "m", EINVAL, "'m'");
	btf__free(btf);

	/*
	 * A struct that holds itself as an anonymous member, twice: invalid
	 * C, but a blob libbpf accepts.  The anonymous-member search must stay
	 * bounded in total work, not only in depth: with n such members a
	 * depth-32 search visits n^32 members.
	 */
	btf = new_btf();
	add_scalars(btf, &s);
	self = T(btf__add_struct(btf, "self", 8));
	T(btf__add_field(btf, "x", s.u32, 0, 0));
	T(btf__add_field(btf, NULL, self, 0, 0));
	T(btf__add_field(btf, NULL, self, 32, 0));
	c = (struct cyc){ btf, self, "x", 0, 0 };
	CHECK(finishes_within(2, resolve_in_child, &c), "self-anonymous struct, found member");
	/* not there: -ENOENT, or -EINVAL if the search gives up */
	c = (struct cyc){ btf, self, "nope", -ENOENT, -EINVAL };
	CHECK(finishes_within(2, resolve_in_child, &c),
	          "struct self { u32 x; struct self; struct self; } (anonymous, self-referential): "
	          "resolving 'nope' does not finish in 2 s (the anonymous-member search "
	          "must be bounded in total work, not only depth)");
	btf__free(btf);

	/* The same blow-up without a cycle: a DAG of anonymous members. */
	btf = new_btf();
	add_scalars(btf, &s);
	wide = T(btf__add_struct(btf, NULL, 4));
	T(btf__add_field(btf, "leaf", s.u32, 0, 0));
	for (i = 0; i < 40; i++) {
		int prev = wide;

		wide = T(btf__add_struct(btf, i == 39 ? "top" : NULL, 4));
		T(btf__add_field(btf, NULL, prev, 0, 0));
		T(btf__add_field(btf, NULL, prev, 0, 0));
	}
	c = (struct cyc){ btf, wide, "nope", -ENOENT, -EINVAL };
	CHECK(finishes_within(2, resolve_in_child, &c),
	          "40 nested levels of struct { struct prev; struct prev; } (anonymous, acyclic): "
	          "resolving 'nope' does not finish in 2 s");
	btf__free(btf);
}

/* A wide (legal) struct: any bound on the search must not cut it short. */
static void test_wide_struct(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	char name[16];
	int st, holder, i;

	add_scalars(btf, &s);
	st = T(btf__add_struct(btf, "wide", 6000));
	for (i = 0; i < 6000; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		T(btf__add_field(btf, name, s.u8, (__u32)i * 8, 0));
	}
	/* the same, reached through an anonymous member */
	holder = T(btf__add_struct(btf, "holder", 6004));
	T(btf__add_field(btf, "first", s.u32, 0, 0));
	T(btf__add_field(btf, NULL, st, 32, 0));

	/* 6000 named members and no anonymous one: the 4096-member search
	 * budget (a943d1c) gives up on them. */
	OK_U(btf, st, "m0", 0, 1);
	OK_U(btf, st, "m4000", 4000, 1);
	OK_U_BUG(btf, st, "m5999", 5999, 1);
	OK_U_BUG(btf, holder, "m5999", 4 + 5999, 1);
	ERR_BUG(btf, st, "nope", ENOENT, "it has: m0, m1, m2");
	btf__free(btf);
}

/* The array offset arithmetic must not wrap. */
static void test_offset_overflow(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int inner, outer, st;

	add_scalars(btf, &s);
	/* u8 huge[1 << 31][1 << 31]: element 1 << 30 starts at byte 2^61,
	 * bit 2^64, which wraps a u64 bit offset to 0. */
	inner = T(btf__add_array(btf, s.u32, s.u8, 1u << 31));
	outer = T(btf__add_array(btf, s.u32, inner, 1u << 31));
	st = T(btf__add_struct(btf, "huge", 8));
	T(btf__add_field(btf, "pad", s.u32, 0, 0));
	T(btf__add_field(btf, "huge", outer, 32, 0));

	OK_U(btf, st, "huge[0][5]", 9, 1);
	OK_U(btf, st, "huge[1][5]", (1u << 31) + 9, 1);
	ERR(btf, st, "huge[2][5]", EINVAL, "out of range");
	ERR(btf, st, "huge[1073741824][5]", EINVAL, "out of range");
	btf__free(btf);
}

static void test_type_str(void)
{
	struct btf *btf = new_btf();
	struct scalars s;
	int st, ptr, cptr, row, grid, un, en, fwd, td;
	char buf[128], tiny[6];

	add_scalars(btf, &s);
	st = T(btf__add_struct(btf, "stats", 4));
	T(btf__add_field(btf, "n", s.u32, 0, 0));
	ptr = T(btf__add_ptr(btf, s.s32));
	cptr = T(btf__add_const(btf, ptr));
	row = T(btf__add_array(btf, s.u32, s.u8, 4));
	grid = T(btf__add_array(btf, s.u32, row, 3));
	un = T(btf__add_union(btf, NULL, 4));
	en = T(btf__add_enum(btf, "mode", 4));
	fwd = T(btf__add_fwd(btf, "later", BTF_FWD_UNION));
	td = T(btf__add_typedef(btf, "stats_t", st));

#define TYPE_STR(id, want)                                                       \
	do {                                                                     \
		bpfmap_btf_type_str(btf, id, buf, sizeof(buf));                  \
		CHECK(strcmp(buf, want) == 0, "type %d: \"%s\", want \"%s\"", id, buf, want); \
	} while (0)
	TYPE_STR(0, "void");
	TYPE_STR(st, "struct stats");
	TYPE_STR(s.u32, "unsigned int");
	TYPE_STR(ptr, "int *");
	TYPE_STR(cptr, "const int *");
	TYPE_STR(row, "unsigned char[4]");
	TYPE_STR(un, "union (anon)");
	TYPE_STR(en, "enum mode");
	TYPE_STR(fwd, "union later");
	TYPE_STR(td, "stats_t");
	TYPE_STR(9999, "<bad type id 9999>");
#undef TYPE_STR
	/* u8 grid[3][4] is spelt "unsigned char[3][4]" in C. */
	bpfmap_btf_type_str(btf, grid, buf, sizeof(buf));
	CHECK(strcmp(buf, "unsigned char[3][4]") == 0,
	          "type_str of u8[3][4] is \"%s\" (dimensions reversed)", buf);
	/* truncation is safe and terminated */
	memset(tiny, 'X', sizeof(tiny));
	bpfmap_btf_type_str(btf, st, tiny, 5);
	CHECK(strcmp(tiny, "stru") == 0 && tiny[5] == 'X', "truncated \"%.5s\"", tiny);
	tiny[0] = 'X';
	bpfmap_btf_type_str(btf, st, tiny, 0);
	CHECK(tiny[0] == 'X', "len 0 wrote into the buffer");
	btf__free(btf);
}

/* The raw BTF round-trips through btf__new: what the loader sees. */
static void test_raw_roundtrip(void)
{
	struct btf *btf = new_btf(), *copy;
	struct scalars s;
	const void *raw;
	__u32 size;
	int var, sec, st;

	add_scalars(btf, &s);
	st = T(btf__add_struct(btf, "sys_stat", 8));
	T(btf__add_field(btf, "avg_lat_cri", s.u32, 32, 0));
	var = T(btf__add_var(btf, "sys_stat", BTF_VAR_GLOBAL_ALLOCATED, st));
	sec = T(btf__add_datasec(btf, ".bss", 136));
	T(btf__add_datasec_var_info(btf, var, 128, 8));
	raw = btf__raw_data(btf, &size);
	CHECK(raw != NULL, "btf__raw_data failed");
	copy = raw ? btf__new(raw, size) : NULL;
	CHECK(copy != NULL, "btf__new of our own raw data failed");
	if (copy) {
		OK_U(copy, sec, "sys_stat.avg_lat_cri", 132, 4);
		btf__free(copy);
	}
	btf__free(btf);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

int main(int argc, char **argv)
{
	strict = argc > 1 && strcmp(argv[1], "--strict") == 0;
	libbpf_set_print(quiet);
	test_ktstr_struct();
	test_ktstr_datasec();
	test_ktstr_nested();
	test_ktstr_bitfields();
	test_legacy_bitfields();
	test_modifiers();
	test_anonymous();
	test_arrays();
	test_pointers();
	test_leaf_kinds();
	test_broken_types();
	test_cycles();
	test_wide_struct();
	test_offset_overflow();
	test_type_str();
	test_raw_roundtrip();
	if (known_bugs)
		printf("%d known bugs (KNOWN BUG lines above; --strict counts them as failures)\n",
		       known_bugs);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
