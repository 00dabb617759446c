/*
 * Field-path resolution through BTF, on libbpf's BTF accessors only.  The
 * input may be an arbitrary (fuzzed) blob that libbpf accepted, so every walk
 * is bounded: modifier chains, anonymous-member nesting and type strings all
 * stop at a fixed depth instead of trusting the BTF to be acyclic.
 */
#include "btf_path.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>

#define MAX_CHAIN 64    /* typedef/modifier hops before we call BTF cyclic */
#define MAX_NESTING 32  /* anonymous struct/union depth searched */

/*
 * The anonymous struct/union types one lookup has already searched.  A type
 * that did not hold the name cannot hold it the second time, so each is
 * searched once: a hostile BTF that nests two anonymous copies of a type per
 * level (or makes a type contain itself) then costs work linear in its size
 * instead of exponential in its depth.
 */
struct seen {
	unsigned char *bits;
	__u32 n;
	bool failed;   /* no memory for the set: the caller reports ENOMEM */
};

static bool first_visit(const struct btf *btf, struct seen *s, __u32 id)
{
	if (!s->bits && !s->failed) {
		s->n = btf__type_cnt(btf);
		s->bits = calloc((s->n + 7) / 8, 1);
		s->failed = !s->bits;
	}
	if (s->failed || id >= s->n || (s->bits[id / 8] & (1u << (id % 8))))
		return false;
	s->bits[id / 8] |= (unsigned char)(1u << (id % 8));
	return true;
}

static int fail(int errnum, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

static const char *name_of(const struct btf *btf, __u32 name_off)
{
	const char *s = btf__name_by_offset(btf, name_off);

	return s ? s : "";
}

/* Follow typedefs and modifiers to the type that gives the layout. */
static const struct btf_type *strip(const struct btf *btf, __u32 *id)
{
	int hops;

	for (hops = 0; hops < MAX_CHAIN; hops++) {
		const struct btf_type *t = btf__type_by_id(btf, *id);

		if (!t)
			return NULL;
		if (!btf_is_mod(t) && !btf_is_typedef(t))
			return t;
		*id = t->type;
	}
	return NULL;
}

/* Append to buf at *pos, never overflowing, always NUL-terminated. */
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos = *pos + (size_t)n < len ? *pos + (size_t)n : len - 1;
}

static void type_str(const struct btf *btf, __u32 id, char *buf, size_t len,
                     size_t *pos, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const char *name;

	if (depth > MAX_CHAIN) {
		put(buf, len, pos, "...");
		return;
	}
	if (id == 0) {
		put(buf, len, pos, "void");
		return;
	}
	if (!t) {
		put(buf, len, pos, "<bad type id %u>", id);
		return;
	}
	name = name_of(btf, t->name_off);
	switch (btf_kind(t)) {
	case BTF_KIND_STRUCT:
		put(buf, len, pos, "struct %s", *name ? name : "(anon)");
		break;
	case BTF_KIND_UNION:
		put(buf, len, pos, "union %s", *name ? name : "(anon)");
		break;
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		put(buf, len, pos, "enum %s", *name ? name : "(anon)");
		break;
	case BTF_KIND_FWD:
		put(buf, len, pos, "%s %s", btf_kflag(t) ? "union" : "struct", name);
		break;
	case BTF_KIND_PTR:
		type_str(btf, t->type, buf, len, pos, depth + 1);
		put(buf, len, pos, " *");
		break;
	case BTF_KIND_ARRAY: {
		/* C's u8 grid[3][4] is ARRAY(3) of ARRAY(4) of u8: print the
		 * innermost element type, then the dimensions outermost first */
		__u32 dims[8], elem = id;
		int n = 0, i;

		while (t && btf_is_array(t) && n < 8) {
			dims[n++] = btf_array(t)->nelems;
			elem = btf_array(t)->type;
			t = btf__type_by_id(btf, elem);
		}
		type_str(btf, elem, buf, len, pos, depth + 1);
		for (i = 0; i < n; i++)
			put(buf, len, pos, "[%u]", dims[i]);
		break;
	}
	case BTF_KIND_CONST:
		put(buf, len, pos, "const ");
		type_str(btf, t->type, buf, len, pos, depth + 1);
		break;
	case BTF_KIND_VOLATILE:
		put(buf, len, pos, "volatile ");
		type_str(btf, t->type, buf, len, pos, depth + 1);
		break;
	case BTF_KIND_RESTRICT:
		put(buf, len, pos, "restrict ");
		type_str(btf, t->type, buf, len, pos, depth + 1);
		break;
	case BTF_KIND_TYPE_TAG:
		type_str(btf, t->type, buf, len, pos, depth + 1);
		put(buf, len, pos, " __tag(%s)", name);
		break;
	case BTF_KIND_FUNC_PROTO:
		put(buf, len, pos, "function");
		break;
	default:
		put(buf, len, pos, "%s", *name ? name : "(anon)");
		break;
	}
}

void bpfmap_btf_type_str(const struct btf *btf, __u32 type_id, char *buf, size_t len)
{
	size_t pos = 0;

	if (!len)
		return;
	buf[0] = '\0';
	type_str(btf, type_id, buf, len, &pos, 0);
}

/* "a, b, c" of a composite's reachable member names, for "not found". */
static void list_members(const struct btf *btf, const struct btf_type *t,
                         char *buf, size_t len, size_t *pos, int depth, struct seen *seen)
{
	const struct btf_member *m = btf_members(t);
	__u16 i, n = btf_vlen(t);

	for (i = 0; i < n; i++) {
		const char *name = name_of(btf, m[i].name_off);

		if (*name) {
			put(buf, len, pos, "%s%s", *pos ? ", " : "", name);
		} else if (depth < MAX_NESTING) {
			__u32 id = m[i].type;
			const struct btf_type *mt = strip(btf, &id);

			if (mt && btf_is_composite(mt) && first_visit(btf, seen, id))
				list_members(btf, mt, buf, len, pos, depth + 1, seen);
		}
	}
}

/*
 * Find a member by name, descending into anonymous structs and unions as C
 * does.  On success adds the member's bit offset to *bit_off.
 */
static bool find_member(const struct btf *btf, const struct btf_type *t,
                        const char *name, size_t nlen, __u64 *bit_off,
                        __u32 *type_id, __u32 *bitfield_size, int depth, struct seen *seen)
{
	const struct btf_member *m = btf_members(t);
	__u16 i, n = btf_vlen(t);

	for (i = 0; i < n; i++) {
		const char *mname = name_of(btf, m[i].name_off);

		if (*mname) {
			if (strlen(mname) == nlen && memcmp(mname, name, nlen) == 0) {
				*bit_off += btf_member_bit_offset(t, i);
				*type_id = m[i].type;
				*bitfield_size = btf_member_bitfield_size(t, i);
				return true;
			}
		} else if (depth < MAX_NESTING) {
			__u32 id = m[i].type;
			const struct btf_type *mt = strip(btf, &id);
			__u64 sub = *bit_off + btf_member_bit_offset(t, i);

			if (mt && btf_is_composite(mt) && first_visit(btf, seen, id) &&
			    find_member(btf, mt, name, nlen, &sub, type_id, bitfield_size, depth + 1,
			                seen)) {
				*bit_off = sub;
				return true;
			}
		}
	}
	return false;
}

struct segment {
	const char *name;
	size_t nlen;
	const char *indices;  /* "[1][2]" or "" */
	size_t ilen;
	const char *text;     /* the path up to and including this segment */
	size_t tlen;
};

/* Split off the segment at *p; the path's syntax was checked by names.c, but
 * the resolver is also fed raw paths by its fuzzer, so it checks again. */
static int next_segment(const char *path, const char **p, struct segment *seg,
                        char *err, size_t errlen)
{
	const char *s = *p, *e = s;

	while (*e && *e != '.' && *e != '[')
		e++;
	seg->name = s;
	seg->nlen = (size_t)(e - s);
	seg->indices = e;
	while (*e == '[') {
		const char *d = e + 1;

		while (*d >= '0' && *d <= '9')
			d++;
		if (d == e + 1 || *d != ']')
			return fail(EINVAL, err, errlen, "malformed index in path '%s'", path);
		e = d + 1;
	}
	seg->ilen = (size_t)(e - seg->indices);
	if (seg->nlen == 0 || (*e && *e != '.') || (*e == '.' && !e[1]))
		return fail(EINVAL, err, errlen, "malformed path '%s'", path);
	seg->text = path;
	seg->tlen = (size_t)(e - path);
	*p = *e ? e + 1 : e;
	return 0;
}

static int apply_indices(const struct btf *btf, const struct segment *seg,
                         __u32 *type_id, __u64 *bit_off, __u32 *bitfield_size,
                         char *err, size_t errlen)
{
	const char *q = seg->indices, *end = seg->indices + seg->ilen;
	char tbuf[96];

	while (q < end) {
		unsigned long long idx = 0;
		const struct btf_array *arr;
		const struct btf_type *t;
		__u32 id = *type_id;
		__s64 esize;
		__u64 step;

		for (q++; *q != ']'; q++) {
			if (idx > 0xffffffffULL)
				break;
			idx = idx * 10 + (unsigned)(*q - '0');
		}
		while (*q != ']')
			q++;
		q++;
		t = strip(btf, &id);
		if (!t)
			return fail(EINVAL, err, errlen, "'%.*s': bad BTF type chain", (int)seg->tlen, seg->text);
		if (!btf_is_array(t)) {
			bpfmap_btf_type_str(btf, *type_id, tbuf, sizeof(tbuf));
			return fail(EINVAL, err, errlen, "'%.*s': cannot index %s, it is not an array",
			            (int)seg->tlen, seg->text, tbuf);
		}
		arr = btf_array(t);
		if (idx >= arr->nelems)
			return fail(ENOENT, err, errlen,
			            "'%.*s': index %llu out of bounds (the array has %u elements)",
			            (int)seg->tlen, seg->text, idx, arr->nelems);
		esize = btf__resolve_size(btf, arr->type);
		if (esize < 0)
			return fail(EINVAL, err, errlen, "'%.*s': element size unknown", (int)seg->tlen, seg->text);
		/* only a malformed BTF can get here, but it must not wrap around */
		if (__builtin_mul_overflow((__u64)idx, (__u64)esize * 8, &step) ||
		    __builtin_add_overflow(*bit_off, step, bit_off) || *bit_off / 8 > UINT32_MAX)
			return fail(EINVAL, err, errlen, "'%.*s': offset out of range", (int)seg->tlen,
			            seg->text);
		*type_id = arr->type;
		*bitfield_size = 0;
	}
	return 0;
}

static int check_leaf(const struct btf *btf, const char *path, __u32 decl_id,
                      __u64 bit_off, __u32 bitfield_size, struct bpfmap_leaf *leaf,
                      char *err, size_t errlen)
{
	char tbuf[96];
	__u32 id = decl_id;
	const struct btf_type *t = strip(btf, &id);

	bpfmap_btf_type_str(btf, decl_id, tbuf, sizeof(tbuf));
	if (!t)
		return fail(EINVAL, err, errlen, "'%s': bad BTF type chain", path);
	if (bitfield_size || bit_off % 8)
		return fail(EINVAL, err, errlen,
		            "'%s' is a bitfield (%u bits of %s); only whole integers can be written",
		            path, bitfield_size, tbuf);
	memset(leaf, 0, sizeof(*leaf));
	switch (btf_kind(t)) {
	case BTF_KIND_INT: {
		__u8 enc = btf_int_encoding(t);

		if (btf_int_offset(t) || btf_int_bits(t) != t->size * 8)
			return fail(EINVAL, err, errlen, "'%s' is a bitfield-encoded %s; not writable", path, tbuf);
		leaf->kind = (enc & BTF_INT_BOOL) ? BPFMAP_LEAF_BOOL : BPFMAP_LEAF_INT;
		leaf->is_signed = (enc & BTF_INT_SIGNED) != 0;
		break;
	}
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		leaf->kind = BPFMAP_LEAF_ENUM;
		leaf->is_signed = btf_kflag(t);
		break;
	default:
		return fail(EINVAL, err, errlen,
		            "'%s' is %s; only integers, enums and bools of 1, 2, 4 or 8 bytes can be written",
		            path, tbuf);
	}
	if (t->size != 1 && t->size != 2 && t->size != 4 && t->size != 8)
		return fail(EINVAL, err, errlen, "'%s' is %s of %u bytes; only 1, 2, 4 or 8 bytes can be written",
		            path, tbuf, t->size);
	if (bit_off / 8 + t->size > 0xffffffffULL)
		return fail(EINVAL, err, errlen, "'%s': offset out of range", path);
	leaf->offset = (__u32)(bit_off / 8);
	leaf->size = t->size;
	leaf->type_id = decl_id;
	snprintf(leaf->type_name, sizeof(leaf->type_name), "%s", tbuf);
	return 0;
}

/* Find seg's member in composite t, or fail with ENOENT listing what is
 * there (described as `where`). */
static int member_or_fail(const struct btf *btf, const struct btf_type *t,
                          const struct segment *seg, const char *where, __u64 *bit_off,
                          __u32 *type_id, __u32 *bitfield_size, char *err, size_t errlen)
{
	struct seen seen = { NULL, 0, false };
	char names[256];
	size_t pos = 0;
	bool found = find_member(btf, t, seg->name, seg->nlen, bit_off, type_id, bitfield_size,
	                         0, &seen);

	free(seen.bits);
	if (found)
		return 0;
	if (seen.failed)
		return fail(ENOMEM, err, errlen, "'%.*s': out of memory", (int)seg->tlen, seg->text);
	memset(&seen, 0, sizeof(seen));
	names[0] = '\0';
	list_members(btf, t, names, sizeof(names), &pos, 0, &seen);
	free(seen.bits);
	return fail(ENOENT, err, errlen, "no member '%.*s' in %s (it has: %s)", (int)seg->nlen,
	            seg->name, where, pos ? names : "nothing");
}

static int resolve_first(const struct btf *btf, __u32 value_type_id,
                         const struct segment *seg, __u32 *type_id, __u64 *bit_off,
                         __u32 *bitfield_size, char *err, size_t errlen)
{
	char names[256], where[96];
	size_t pos = 0;
	__u32 id = value_type_id;
	const struct btf_type *t = btf__type_by_id(btf, value_type_id);

	names[0] = '\0';
	if (!t || value_type_id == 0)
		return fail(EINVAL, err, errlen, "value type id %u is not in the map's BTF", value_type_id);
	if (btf_is_datasec(t)) {
		const struct btf_var_secinfo *vsi = btf_var_secinfos(t);
		const char *sec = name_of(btf, t->name_off);
		__u16 i, n = btf_vlen(t);

		for (i = 0; i < n; i++) {
			const struct btf_type *var = btf__type_by_id(btf, vsi[i].type);
			const char *vname;

			if (!var || !btf_is_var(var))
				continue;
			vname = name_of(btf, var->name_off);
			if (strlen(vname) == seg->nlen && memcmp(vname, seg->name, seg->nlen) == 0) {
				*type_id = var->type;
				*bit_off = (__u64)vsi[i].offset * 8;
				*bitfield_size = 0;
				return 0;
			}
			put(names, sizeof(names), &pos, "%s%s", pos ? ", " : "", vname);
		}
		return fail(ENOENT, err, errlen, "no variable '%.*s' in %s (it has: %s)",
		            (int)seg->nlen, seg->name, sec, pos ? names : "nothing");
	}
	t = strip(btf, &id);
	if (!t || !btf_is_composite(t)) {
		char tbuf[96];

		bpfmap_btf_type_str(btf, value_type_id, tbuf, sizeof(tbuf));
		return fail(EINVAL, err, errlen, "the map's value is %s, not a DATASEC, struct or union", tbuf);
	}
	*bit_off = 0;
	bpfmap_btf_type_str(btf, id, where, sizeof(where));
	return member_or_fail(btf, t, seg, where, bit_off, type_id, bitfield_size, err, errlen);
}

static int resolve_member(const struct btf *btf, const struct segment *seg,
                          const struct segment *prev, __u32 *type_id, __u64 *bit_off,
                          __u32 *bitfield_size, char *err, size_t errlen)
{
	char tbuf[96], where[256];
	__u32 id = *type_id;
	const struct btf_type *t = strip(btf, &id);

	bpfmap_btf_type_str(btf, *type_id, tbuf, sizeof(tbuf));
	if (!t)
		return fail(EINVAL, err, errlen, "'%.*s': bad BTF type chain", (int)prev->tlen, prev->text);
	if (btf_is_ptr(t))
		return fail(EINVAL, err, errlen,
		            "'%.*s' is a pointer (%s); a path never descends through a pointer",
		            (int)prev->tlen, prev->text, tbuf);
	if (!btf_is_composite(t))
		return fail(EINVAL, err, errlen, "'%.*s' is %s, which has no member '%.*s'",
		            (int)prev->tlen, prev->text, tbuf, (int)seg->nlen, seg->name);
	snprintf(where, sizeof(where), "'%.*s' (%s)", (int)prev->tlen, prev->text, tbuf);
	return member_or_fail(btf, t, seg, where, bit_off, type_id, bitfield_size, err, errlen);
}

int bpfmap_btf_resolve(const struct btf *btf, __u32 value_type_id,
                       const char *path, struct bpfmap_leaf *leaf,
                       char *err, size_t errlen)
{
	struct segment seg, prev;
	const char *p = path;
	__u32 type_id = 0, bitfield_size = 0;
	__u64 bit_off = 0;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!path || !*path)
		return fail(EINVAL, err, errlen, "empty path");
	/* the whole path's syntax first, so a malformed tail is reported as
	 * such rather than as whatever the head failed to find */
	while (*p) {
		rc = next_segment(path, &p, &seg, err, errlen);
		if (rc)
			return rc;
	}
	p = path;
	rc = next_segment(path, &p, &seg, err, errlen);
	if (!rc)
		rc = resolve_first(btf, value_type_id, &seg, &type_id, &bit_off, &bitfield_size, err, errlen);
	if (!rc)
		rc = apply_indices(btf, &seg, &type_id, &bit_off, &bitfield_size, err, errlen);
	while (!rc && *p) {
		prev = seg;
		rc = next_segment(path, &p, &seg, err, errlen);
		if (!rc)
			rc = resolve_member(btf, &seg, &prev, &type_id, &bit_off, &bitfield_size, err, errlen);
		if (!rc)
			rc = apply_indices(btf, &seg, &type_id, &bit_off, &bitfield_size, err, errlen);
	}
	if (!rc)
		rc = check_leaf(btf, path, type_id, bit_off, bitfield_size, leaf, err, errlen);
	return rc;
}
