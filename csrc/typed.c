/*
 * BTF-typed values of a MapData: m:get / m:set one field by BpfMapWrite's
 * path syntax, m:read / m:write a whole value as Lua tables.
 *
 * get and set resolve paths with BpfMapWrite's resolver and cache
 * (btf_cache.c) and check and store with its code (field.c), so a field set
 * here is range-checked and written exactly as a BpfMapWrite writes it: one
 * naturally aligned store through the map's mmap where there is one (no
 * syscall once warm), else a read-modify-write of the element.
 *
 * read and write walk the map's BTF (libbpf's btf__* accessors) over a
 * snapshot of the value.  write checks the whole table before it stores
 * anything; through an mmap each field the table names is one store of its
 * own, so fields it does not name, which the program may be updating, are
 * never written back.
 *
 * Keys: array and per-CPU array maps take an index (default 0) or a key
 * string; other keyed maps need a key string of exactly key_size bytes.
 */
#include "bpfmap.h"
#include "elements.h"
#include "field.h"
#include "names.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define MAX_DEPTH 32      /* type nesting decoded or encoded before giving up */
#define PATH_MAX_LEN 256  /* a field's path as messages show it */

/* ---- the map, its key and its value layout ---- */

static bool is_array_like(const struct mapdata *md)
{
	return (md->info.type == BPF_MAP_TYPE_ARRAY || md->info.type == BPF_MAP_TYPE_PERCPU_ARRAY) &&
	       md->info.key_size == 4;
}

struct typed_key {
	const void *bytes;     /* what the kernel is given */
	__u32 index;           /* array-like maps */
	bool has_index;
	size_t elem_off;       /* the element's byte offset in the mmap, or SIZE_MAX */
};

/* The key at arg, checked before any syscall (the map is keyed:
 * bpfmap_check_keyed). */
static void check_key(lua_State *L, struct mapdata *md, int arg, struct typed_key *k)
{
	size_t len;

	k->has_index = false;
	k->elem_off = SIZE_MAX;
	if (is_array_like(md) && lua_type(L, arg) != LUA_TSTRING) {
		if (lua_isnoneornil(L, arg))
			k->index = 0;
		else if (lua_type(L, arg) == LUA_TNUMBER)
			k->index = (__u32)bpfmap_check_range(L, arg, "key", 0, UINT32_MAX);
		else
			bpfmap_arg_error(L, arg, "key must be an index or a string of 4 bytes, got %s",
			                 luaL_typename(L, arg));
		k->has_index = true;
		k->bytes = &k->index;
	} else {
		if (lua_type(L, arg) != LUA_TSTRING)
			bpfmap_arg_error(L, arg, "key must be a string of %I bytes, got %s",
			                 (lua_Integer)md->info.key_size, luaL_typename(L, arg));
		k->bytes = lua_tolstring(L, arg, &len);
		if (len != md->info.key_size)
			bpfmap_arg_error(L, arg, "key must be %I bytes, got %I",
			                 (lua_Integer)md->info.key_size, (lua_Integer)len);
		if (is_array_like(md)) {
			memcpy(&k->index, k->bytes, sizeof(k->index));
			k->has_index = true;
		}
	}
	if (k->has_index && !bpfmap_is_percpu(md) && k->index < md->info.max_entries)
		k->elem_off = (size_t)k->index * bpfmap_value_stride(md);
}

/* The element in md's mapping, or NULL: then a syscall reads it. */
static unsigned char *mapped(struct mapdata *md, const struct typed_key *k)
{
	if (k->elem_off == SIZE_MAX || bpfmap_mapdata_mmap(md) ||
	    k->elem_off > md->mem_len || md->info.value_size > md->mem_len - k->elem_off)
		return NULL;
	return (unsigned char *)md->mem + k->elem_off;
}

/* "<op> map 'name' (id N)" for messages; pushed. */
static const char *push_map_name(lua_State *L, const struct mapdata *md, const char *op)
{
	return lua_pushfstring(L, "%s map '%s' (id %I)", op, md->info.name, (lua_Integer)md->info.id);
}

/* nil, "<what>: the map has no BTF", ENODATA unless md has a value type. */
static int need_btf(lua_State *L, const struct mapdata *md, const char *what)
{
	if (md->info.btf_id && md->info.btf_value_type_id)
		return 0;
	return bpfmap_fail_msg(L, ENODATA,
	                       lua_pushfstring(L, "%s: the map has no BTF (no value type to read "
	                                       "fields by)", what));
}

/* ---- get and set: one field, BpfMapWrite's resolver and stores ---- */

/* A field path, checked as BpfMapWrite.new checks its field. */
static const char *check_path(lua_State *L, int arg)
{
	char msg[160];
	size_t len;
	const char *path;

	if (lua_type(L, arg) != LUA_TSTRING)
		bpfmap_arg_error(L, arg, "path must be a string, got %s", luaL_typename(L, arg));
	path = lua_tolstring(L, arg, &len);
	if (bpfmap_check_field(path, len, msg, sizeof(msg)))
		luaL_argerror(L, arg, msg);
	return path;
}

static int resolve(lua_State *L, struct mapdata *md, const char *path, const char *what,
                   struct bpfmap_leaf *leaf)
{
	char err[320];
	int rc = bpfmap_btf_leaf(L, md->info.btf_id, md->info.btf_value_type_id, path, NULL,
	                         leaf, err, sizeof(err));

	if (rc == 0 && (__u64)leaf->offset + leaf->size > md->info.value_size) {
		snprintf(err, sizeof(err), "BTF puts '%s' at %u..%u, past the %u-byte value", path,
		         leaf->offset, leaf->offset + leaf->size, md->info.value_size);
		rc = -EINVAL;
	}
	if (rc)
		return bpfmap_fail_msg(L, -rc, lua_pushfstring(L, "%s: %s%s", what, err,
		                       rc == -EINVAL && !strncmp(what, "get ", 4)
		                       ? " (get reads the fields set writes; m:read() decodes the rest)"
		                       : ""));
	return 0;
}

static void push_field(lua_State *L, const struct bpfmap_leaf *leaf, lua_Integer v)
{
	if (leaf->kind == BPFMAP_LEAF_BOOL)
		lua_pushboolean(L, v != 0);
	else
		lua_pushinteger(L, v);
}

/*
 * Read the element into a scratch buffer left on the stack: 0, ENOENT (the
 * key is not there; nothing pushed but the buffer) or another errno.
 */
static int lookup(lua_State *L, struct mapdata *md, const struct typed_key *k,
                  unsigned char **buf, int *ncpus)
{
	size_t size;
	int err = bpfmap_value_layout(md, ncpus, &size);

	if (err)
		return -err;
	*buf = bpfmap_scratch_zeroed(L, size);
	bpfmap_log_clear();
	if (bpf_map_lookup_elem(md->fd, k->bytes, *buf))
		return errno;
	return 0;
}

/*
 * The element's whole value in a scratch buffer left on the stack, for
 * read and write: where the map is mmapable, a copy of the mapping (*mem
 * then points at the element), so that the fields agree with one another
 * as far as one copy can make them; else lookup's (*mem NULL, and lookup's
 * 0, ENOENT or errno).
 */
static int load_value(lua_State *L, struct mapdata *md, const struct typed_key *k,
                      unsigned char **mem, unsigned char **buf, int *ncpus)
{
	*mem = mapped(md, k);
	if (!*mem)
		return lookup(L, md, k, buf, ncpus);
	*buf = bpfmap_scratch_zeroed(L, md->info.value_size);
	memcpy(*buf, *mem, md->info.value_size);
	return 0;
}

/* m:get(path [, key]) --> integer | boolean | list per CPU | nil | nil, msg, errno */
static int ty_get(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "get");
	const char *path = check_path(L, 2);
	struct bpfmap_leaf leaf;
	struct typed_key k;
	unsigned char *mem, *buf;
	const char *what;
	int ncpus, err, i;

	check_key(L, md, 3, &k);
	lua_settop(L, 3);
	what = lua_pushfstring(L, "get %s from map '%s' (id %I)", path, md->info.name,
	                       (lua_Integer)md->info.id);
	if (need_btf(L, md, what) || resolve(L, md, path, what, &leaf))
		return 3;
	mem = mapped(md, &k);
	if (mem) {
		push_field(L, &leaf, bpfmap_load_field(mem, &leaf));
		return 1;
	}
	err = lookup(L, md, &k, &buf, &ncpus);
	if (err == ENOENT) {
		lua_pushnil(L);
		return 1;
	}
	if (err)
		return bpfmap_fail(L, err, "%s", what);
	if (!bpfmap_is_percpu(md)) {
		push_field(L, &leaf, bpfmap_load_field(buf, &leaf));
		return 1;
	}
	lua_createtable(L, ncpus, 0);
	for (i = 0; i < ncpus; i++) {
		const unsigned char *copy = buf + (size_t)i * bpfmap_value_stride(md);

		push_field(L, &leaf, bpfmap_load_field(copy, &leaf));
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* The value argument of set: an integer (integral floats too) or a boolean. */
static lua_Integer check_set_value(lua_State *L, int arg)
{
	int isint;
	lua_Integer v;

	if (lua_type(L, arg) == LUA_TBOOLEAN)
		return lua_toboolean(L, arg);
	if (lua_type(L, arg) != LUA_TNUMBER)
		bpfmap_arg_error(L, arg, "value must be an integer or a boolean, got %s",
		                 luaL_typename(L, arg));
	v = lua_tointegerx(L, arg, &isint);
	if (!isint)
		bpfmap_arg_error(L, arg, "value must be an integer, got %s", lua_tostring(L, arg));
	return v;
}

static const char *const set_opt_names[] = { "atomic", NULL };

static bool check_set_opts(lua_State *L, int arg)
{
	bool atomic = false;

	if (lua_isnoneornil(L, arg))
		return false;
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, arg)) {
		bpfmap_opt_index(L, arg, -2, set_opt_names);
		if (lua_type(L, -1) != LUA_TBOOLEAN)
			bpfmap_arg_error(L, arg, "atomic must be a boolean, got %s", luaL_typename(L, -1));
		atomic = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	return atomic;
}

/* The report entry BpfMapWrite's apply gives for one write. */
static void push_report(lua_State *L, const struct mapdata *md, const char *path,
                        const struct bpfmap_leaf *leaf, int before_idx, lua_Integer after,
                        const struct bpfmap_field_store *st)
{
	lua_createtable(L, 0, 11);
	lua_pushstring(L, md->info.name);
	lua_setfield(L, -2, "map");
	lua_pushinteger(L, md->info.id);
	lua_setfield(L, -2, "map_id");
	lua_pushstring(L, path);
	lua_setfield(L, -2, "field");
	lua_pushinteger(L, leaf->offset);
	lua_setfield(L, -2, "offset");
	lua_pushinteger(L, leaf->size);
	lua_setfield(L, -2, "size");
	lua_pushstring(L, leaf->type_name);
	lua_setfield(L, -2, "type");
	lua_pushboolean(L, leaf->is_signed);
	lua_setfield(L, -2, "signed");
	lua_pushvalue(L, before_idx);
	lua_setfield(L, -2, "before");
	lua_pushinteger(L, after);
	lua_setfield(L, -2, "after");
	lua_pushstring(L, st->via_mmap ? "mmap" : "rmw");
	lua_setfield(L, -2, "method");
	lua_pushboolean(L, st->atomic);
	lua_setfield(L, -2, "atomic");
}

/* m:set(path, value [, key [, opts]]) --> report | nil, msg, errno */
static int ty_set(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "set");
	const char *path = check_path(L, 2);
	lua_Integer v = check_set_value(L, 3), after;
	struct bpfmap_field_store st;
	struct bpfmap_leaf leaf;
	struct typed_key k;
	unsigned char *buf;
	const char *what;
	char msg[160];
	bool atomic;
	int ncpus, err, i, before;

	check_key(L, md, 4, &k);
	atomic = check_set_opts(L, 5);
	lua_settop(L, 5);
	what = lua_pushfstring(L, "set %s=%I in map '%s' (id %I)", path, v, md->info.name,
	                       (lua_Integer)md->info.id);
	if (need_btf(L, md, what) || resolve(L, md, path, what, &leaf))
		return 3;
	lua_pushfstring(L, "set %s=%I", path, v);
	what = lua_tostring(L, -1);
	/* one update is the only store, and a frozen map refuses it: the
	 * fdinfo read that says why is left to that refusal */
	err = bpfmap_field_prepare(md, &leaf, v, k.elem_off, atomic, false, &st, msg, sizeof(msg));
	if (err)
		return bpfmap_fail_field(L, what, md, path, &leaf, err, msg);
	after = bpfmap_as_stored(&leaf, v);
	if (st.via_mmap) {
		unsigned char *mem = (unsigned char *)md->mem + k.elem_off;

		/* before and after as BpfMapWrite reports them: integers */
		lua_pushinteger(L, bpfmap_load_field(mem, &leaf));
		bpfmap_store_field(mem, &leaf, v);
		push_report(L, md, path, &leaf, lua_gettop(L), after, &st);
		return 1;
	}
	err = lookup(L, md, &k, &buf, &ncpus);
	if (err == ENOENT)
		return bpfmap_fail_field(L, what, md, path, &leaf, ENOENT,
		                k.has_index ? "no element at that index" : "the key is not in the map");
	if (err)
		return bpfmap_fail_field(L, what, md, path, &leaf, err, "lookup of the element failed");
	/* a per-CPU map's every copy, so the field reads v on every CPU */
	if (bpfmap_is_percpu(md))
		lua_createtable(L, ncpus, 0);
	for (i = 0; i < ncpus; i++) {
		unsigned char *copy = buf + (size_t)i * bpfmap_value_stride(md);

		lua_pushinteger(L, bpfmap_load_field(copy, &leaf));
		if (bpfmap_is_percpu(md))
			lua_rawseti(L, -2, i + 1);
		bpfmap_store_field(copy, &leaf, v);
	}
	before = lua_gettop(L);
	if (bpf_map_update_elem(md->fd, k.bytes, buf, BPF_EXIST)) {
		err = errno;
		if (err == EPERM && bpfmap_map_frozen(md, msg, sizeof(msg)))
			return bpfmap_fail_field(L, what, md, path, &leaf, err, msg);
		return bpfmap_fail_field(L, what, md, path, &leaf, err,
		                err == ENOENT ? "the key was deleted meanwhile" : "update failed");
	}
	push_report(L, md, path, &leaf, before, after, &st);
	return 1;
}

/* ---- read and write: a whole value walked through its BTF ---- */

struct codec {
	lua_State *L;
	const struct btf *btf;
	const struct mapdata *md;
	unsigned char *data;   /* one CPU's copy of the value */
	size_t len;
	char path[PATH_MAX_LEN];
	size_t plen;
	int err;               /* write: the refusal's errno, its message pushed */
	/* write: the fields stored, as bit ranges of the value */
	struct span { __u32 bit_off, nbits; } *spans;
	size_t nspans, cap;
	int spans_idx;         /* stack slot of the userdata holding spans */
};

static const struct btf_type *strip(const struct btf *btf, __u32 *id)
{
	int hops;

	for (hops = 0; hops < 64; hops++) {
		const struct btf_type *t = btf__type_by_id(btf, *id);

		if (!t || (!btf_is_mod(t) && !btf_is_typedef(t)))
			return t;
		*id = t->type;
	}
	return NULL;
}

/* Whether a char array, shown as a string: C's char, whatever typedefs say. */
static bool is_char(const struct btf *btf, __u32 elem)
{
	const struct btf_type *t = strip(btf, &elem);
	const char *name;

	if (!t || !btf_is_int(t) || t->size != 1)
		return false;
	name = btf__name_by_offset(btf, t->name_off);
	return (btf_int_encoding(t) & BTF_INT_CHAR) || (name && !strcmp(name, "char"));
}

/* nbits at bit_off of data, little-endian as the BPF target of this host. */
static uint64_t get_bits(const unsigned char *data, __u32 bit_off, __u32 nbits)
{
	uint64_t u = 0;
	__u32 i;

	if (bit_off % 8 == 0 && nbits % 8 == 0) {
		memcpy(&u, data + bit_off / 8, nbits / 8);
		return u;
	}
	for (i = 0; i < nbits; i++)
		if ((data[(bit_off + i) / 8] >> ((bit_off + i) % 8)) & 1)
			u |= (uint64_t)1 << i;
	return u;
}

static void put_bits(unsigned char *data, __u32 bit_off, __u32 nbits, uint64_t u)
{
	__u32 i;

	if (bit_off % 8 == 0 && nbits % 8 == 0) {
		memcpy(data + bit_off / 8, &u, nbits / 8);
		return;
	}
	for (i = 0; i < nbits; i++) {
		unsigned char bit = (unsigned char)(1u << ((bit_off + i) % 8));

		if ((u >> i) & 1)
			data[(bit_off + i) / 8] |= bit;
		else
			data[(bit_off + i) / 8] &= (unsigned char)~bit;
	}
}

static lua_Integer sign_extend(uint64_t u, __u32 nbits)
{
	if (nbits < 64 && (u >> (nbits - 1)) & 1)
		u |= ~(uint64_t)0 << nbits;
	return (lua_Integer)u;
}

/* Where write puts an integer: a member's bitfield, or the int type's own bits. */
struct scalar {
	__u32 bit_off;   /* from the start of the value */
	__u32 nbits;
	bool is_signed;
};

static bool fits(const struct codec *c, __u32 bit_off, __u64 nbits)
{
	return nbits <= 64 * 1024 * 1024 && bit_off + nbits <= (__u64)c->len * 8;
}

static void decode(struct codec *c, __u32 id, __u32 bit_off, __u32 bitfield, int depth);

static void decode_members(struct codec *c, const struct btf_type *t, __u32 bit_off, int depth)
{
	const struct btf_member *m = btf_members(t);
	__u16 i, n = btf_vlen(t);

	for (i = 0; i < n; i++) {
		const char *name = btf__name_by_offset(c->btf, m[i].name_off);
		__u32 mid = m[i].type, off = bit_off + btf_member_bit_offset(t, i);
		const struct btf_type *mt = strip(c->btf, &mid);

		if (!name || !*name) {
			/* C reaches an anonymous struct's members by their own names */
			if (mt && (btf_is_struct(mt) || btf_is_union(mt)) && depth < MAX_DEPTH)
				decode_members(c, mt, off, depth + 1);
			continue;
		}
		decode(c, m[i].type, off, btf_member_bitfield_size(t, i), depth + 1);
		lua_setfield(c->L, -2, name);
	}
}

static void decode_enum(struct codec *c, const struct btf_type *t, uint64_t u, __u32 nbits)
{
	bool is_signed = btf_kflag(t);
	lua_Integer v = is_signed ? sign_extend(u, nbits) : (lua_Integer)u;
	uint64_t mask = nbits >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << nbits) - 1;
	__u16 i, n = btf_vlen(t);

	for (i = 0; i < n; i++) {
		uint64_t ev;
		__u32 name_off;

		if (btf_is_enum(t)) {
			ev = (uint64_t)(int64_t)btf_enum(t)[i].val;
			name_off = btf_enum(t)[i].name_off;
		} else {
			ev = btf_enum64_value(&btf_enum64(t)[i]);
			name_off = btf_enum64(t)[i].name_off;
		}
		if ((ev & mask) == u) {
			lua_pushstring(c->L, btf__name_by_offset(c->btf, name_off));
			return;
		}
	}
	lua_pushinteger(c->L, v);
}

/*
 * Push the value of type id at bit_off of c->data (bitfield: its width in
 * bits, or 0).  Never fails: what cannot be shown (a type past the value's
 * end, a function, nesting too deep) is nil.
 */
static void decode(struct codec *c, __u32 id, __u32 bit_off, __u32 bitfield, int depth)
{
	lua_State *L = c->L;
	const struct btf_type *t = strip(c->btf, &id);
	__s64 size;

	luaL_checkstack(L, 4, "value nested too deep");
	if (!t || depth > MAX_DEPTH) {
		lua_pushnil(L);
		return;
	}
	size = btf__resolve_size(c->btf, id);
	if (!bitfield && (size < 0 || !fits(c, bit_off, (__u64)size * 8))) {
		lua_pushnil(L);
		return;
	}
	switch (btf_kind(t)) {
	case BTF_KIND_INT: {
		__u32 nbits = bitfield ? bitfield : btf_int_bits(t);
		__u32 off = bit_off + (bitfield ? 0 : btf_int_offset(t));
		bool is_signed = btf_int_encoding(t) & BTF_INT_SIGNED;
		uint64_t u;

		if (nbits == 0 || nbits > 64 || !fits(c, off, nbits)) {
			lua_pushnil(L);
			break;
		}
		u = get_bits(c->data, off, nbits);
		if (btf_int_encoding(t) & BTF_INT_BOOL)
			lua_pushboolean(L, u != 0);
		else
			lua_pushinteger(L, is_signed ? sign_extend(u, nbits) : (lua_Integer)u);
		break;
	}
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64: {
		__u32 nbits = bitfield ? bitfield : t->size * 8;

		if (nbits == 0 || nbits > 64 || !fits(c, bit_off, nbits)) {
			lua_pushnil(L);
			break;
		}
		decode_enum(c, t, get_bits(c->data, bit_off, nbits), nbits);
		break;
	}
	case BTF_KIND_PTR:
		lua_pushinteger(L, (lua_Integer)get_bits(c->data, bit_off, (__u32)size * 8));
		break;
	case BTF_KIND_FLOAT:
		if (size == sizeof(float) && bit_off % 8 == 0) {
			float f;

			memcpy(&f, c->data + bit_off / 8, sizeof(f));
			lua_pushnumber(L, f);
		} else if (size == sizeof(double) && bit_off % 8 == 0) {
			double d;

			memcpy(&d, c->data + bit_off / 8, sizeof(d));
			lua_pushnumber(L, d);
		} else {
			lua_pushnil(L);
		}
		break;
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		lua_createtable(L, 0, btf_vlen(t));
		decode_members(c, t, bit_off, depth);
		break;
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = btf_array(t);
		__s64 esize = btf__resolve_size(c->btf, a->type);
		__u32 i;

		if (is_char(c->btf, a->type) && bit_off % 8 == 0) {
			const char *s = (const char *)c->data + bit_off / 8;

			lua_pushlstring(L, s, strnlen(s, a->nelems));
			break;
		}
		lua_createtable(L, esize > 0 ? (int)a->nelems : 0, 0);
		for (i = 0; esize > 0 && i < a->nelems; i++) {
			decode(c, a->type, bit_off + i * (__u32)esize * 8, 0, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case BTF_KIND_DATASEC: {
		const struct btf_var_secinfo *v = btf_var_secinfos(t);
		__u16 i, n = btf_vlen(t);

		lua_createtable(L, 0, n);
		for (i = 0; i < n; i++) {
			const struct btf_type *var = btf__type_by_id(c->btf, v[i].type);
			const char *name;

			if (!var || !btf_is_var(var))
				continue;
			name = btf__name_by_offset(c->btf, var->name_off);
			if (!name || !*name || !fits(c, bit_off + v[i].offset * 8, (__u64)v[i].size * 8))
				continue;
			decode(c, var->type, bit_off + v[i].offset * 8, 0, depth + 1);
			lua_setfield(L, -2, name);
		}
		break;
	}
	default:
		lua_pushnil(L);
		break;
	}
}

/* Whether the value type's size matches the map's value: 0, or fails. */
static int check_value_type(lua_State *L, const struct btf *btf, const struct mapdata *md,
                            const char *what)
{
	__s64 size = btf__resolve_size(btf, md->info.btf_value_type_id);

	if (size == (__s64)md->info.value_size)
		return 0;
	return bpfmap_fail_msg(L, EINVAL, lua_pushfstring(L, "%s: its BTF value type is %I bytes, "
	                       "its values %I", what, (lua_Integer)size,
	                       (lua_Integer)md->info.value_size));
}

/* The map's BTF, its anchor left on the stack for the rest of the call. */
static const struct btf *load_btf(lua_State *L, const struct mapdata *md, const char *what)
{
	int err;
	const struct btf *btf = bpfmap_btf_get(L, md->info.btf_id, &err);

	if (!btf)
		bpfmap_fail(L, -err, "%s: load BTF id %I", what, (lua_Integer)md->info.btf_id);
	return btf;
}

/*
 * What read and write (op) do first: the keyed MapData at 1, its key at
 * keyarg (the last argument), "<op> map 'name' (id N)" for messages in
 * *what and the map's BTF in c, both left on the stack, and the BTF's value
 * type checked against the map's values.  0, or 3 with nil, message, errno
 * pushed.
 */
static int begin_value(lua_State *L, const char *op, int keyarg, struct mapdata **md,
                       struct typed_key *k, struct codec *c, const char **what)
{
	*md = bpfmap_check_keyed(L, op);
	check_key(L, *md, keyarg, k);
	lua_settop(L, keyarg);
	*what = push_map_name(L, *md, op);
	if (need_btf(L, *md, *what))
		return 3;
	memset(c, 0, sizeof(*c));
	c->L = L;
	c->md = *md;
	c->len = (*md)->info.value_size;
	c->btf = load_btf(L, *md, *what);
	if (!c->btf || check_value_type(L, c->btf, *md, *what))
		return 3;
	return 0;
}

/* m:read([key]) --> table | list of tables per CPU | nil | nil, msg, errno */
static int ty_read(lua_State *L)
{
	struct mapdata *md;
	struct codec c;
	struct typed_key k;
	unsigned char *mem, *buf;
	const char *what;
	int ncpus = 1, err, i;

	if (begin_value(L, "read", 2, &md, &k, &c, &what))
		return 3;
	err = load_value(L, md, &k, &mem, &buf, &ncpus);
	if (err == ENOENT) {
		lua_pushnil(L);
		return 1;
	}
	if (err)
		return bpfmap_fail(L, err, "%s", what);
	if (bpfmap_is_percpu(md))
		lua_createtable(L, ncpus, 0);
	for (i = 0; i < ncpus; i++) {
		c.data = buf + (size_t)i * bpfmap_value_stride(md);
		decode(&c, md->info.btf_value_type_id, 0, 0, 0);
		if (bpfmap_is_percpu(md))
			lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* ---- write: BTF-guided encoding ---- */

/* Refuse the write: the message names the map and the field's path. */
static bool refuse(struct codec *c, int err, const char *fmt, ...)
{
	lua_State *L = c->L;
	va_list ap;

	lua_pushfstring(L, "write map '%s' (id %I)", c->md->info.name, (lua_Integer)c->md->info.id);
	if (c->plen)
		lua_pushfstring(L, " field '%s'", c->path);
	else
		lua_pushliteral(L, "");
	lua_pushliteral(L, ": ");
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_pushliteral(L, "; nothing written");
	lua_concat(L, 5);
	c->err = err;
	return false;
}

/* Append ".name" or "[i]" to the path; returns the length to restore. */
static size_t path_push(struct codec *c, const char *name, lua_Integer i)
{
	size_t was = c->plen, room = sizeof(c->path) - c->plen;
	int n;

	if (room <= 1)
		return was;
	if (name)
		n = snprintf(c->path + c->plen, room, "%s%s", c->plen ? "." : "", name);
	else
		n = snprintf(c->path + c->plen, room, "[%lld]", (long long)i);
	if (n > 0)
		c->plen += (size_t)n < room ? (size_t)n : room - 1;
	return was;
}

static void path_pop(struct codec *c, size_t was)
{
	c->plen = was;
	c->path[was] = '\0';
}

static void add_span(struct codec *c, __u32 bit_off, __u32 nbits)
{
	if (c->nspans == c->cap) {
		struct span *grown;

		c->cap = c->cap ? c->cap * 2 : 16;
		grown = lua_newuserdatauv(c->L, c->cap * sizeof(*grown), 0);
		if (c->nspans)
			memcpy(grown, c->spans, c->nspans * sizeof(*grown));
		lua_replace(c->L, c->spans_idx);
		c->spans = grown;
	}
	c->spans[c->nspans].bit_off = bit_off;
	c->spans[c->nspans].nbits = nbits;
	c->nspans++;
}

static const char *type_str(struct codec *c, __u32 id)
{
	char buf[96];

	bpfmap_btf_type_str(c->btf, id, buf, sizeof(buf));
	return lua_pushstring(c->L, buf);
}

/* An integer from the Lua value at idx, in the range BpfMapWrite gives the
 * same field (field.c), or a refusal. */
static bool encode_int(struct codec *c, int idx, __u32 id, const struct scalar *s,
                       enum bpfmap_leaf_kind kind)
{
	lua_State *L = c->L;
	lua_Integer v, lo, hi;
	int isint;

	if (kind == BPFMAP_LEAF_BOOL && lua_type(L, idx) == LUA_TBOOLEAN) {
		v = lua_toboolean(L, idx);
	} else if (lua_type(L, idx) == LUA_TNUMBER) {
		v = lua_tointegerx(L, idx, &isint);
		if (!isint)
			return refuse(c, EINVAL, "%s needs an integer, got %s", type_str(c, id),
			              lua_tostring(L, idx));
	} else {
		return refuse(c, EINVAL, "%s needs %s, got %s", type_str(c, id),
		              kind == BPFMAP_LEAF_BOOL ? "a boolean or 0 or 1" :
		              kind == BPFMAP_LEAF_ENUM ? "an enumerator name or an integer" : "an integer",
		              luaL_typename(L, idx));
	}
	bpfmap_int_range(s->nbits, s->is_signed, kind, &lo, &hi);
	if (v < lo || v > hi)
		return refuse(c, ERANGE, "value %I out of range %I..%I", v, lo, hi);
	put_bits(c->data, s->bit_off, s->nbits, (uint64_t)v);
	add_span(c, s->bit_off, s->nbits);
	return true;
}

static bool encode_enum(struct codec *c, int idx, __u32 id, const struct btf_type *t,
                        struct scalar *s)
{
	lua_State *L = c->L;
	__u16 i, n = btf_vlen(t);
	uint64_t u;

	s->is_signed = btf_kflag(t);
	if (lua_type(L, idx) != LUA_TSTRING)
		return encode_int(c, idx, id, s, BPFMAP_LEAF_ENUM);
	for (i = 0; i < n; i++) {
		__u32 name_off = btf_is_enum(t) ? btf_enum(t)[i].name_off : btf_enum64(t)[i].name_off;

		if (bpfmap_is_string(L, idx, btf__name_by_offset(c->btf, name_off))) {
			u = btf_is_enum(t) ? (uint64_t)(int64_t)btf_enum(t)[i].val
			                   : btf_enum64_value(&btf_enum64(t)[i]);
			put_bits(c->data, s->bit_off, s->nbits, u);
			add_span(c, s->bit_off, s->nbits);
			return true;
		}
	}
	return refuse(c, EINVAL, "%s has no enumerator '%s'", type_str(c, id), bpfmap_show(L, idx));
}

static bool encode(struct codec *c, int idx, __u32 id, __u32 bit_off, __u32 bitfield, int depth);

/* The member `name` of struct/union t, searching anonymous members as C
 * does: its type, bit offset and bitfield size. */
static bool find_member(struct codec *c, const struct btf_type *t, const char *name,
                        __u32 bit_off, __u32 *type, __u32 *off, __u32 *bitfield, int depth)
{
	const struct btf_member *m = btf_members(t);
	__u16 i, n = btf_vlen(t);

	for (i = 0; i < n; i++) {
		const char *mname = btf__name_by_offset(c->btf, m[i].name_off);
		__u32 mid = m[i].type;
		const struct btf_type *mt;

		if (mname && *mname) {
			if (strcmp(mname, name))
				continue;
			*type = m[i].type;
			*off = bit_off + btf_member_bit_offset(t, i);
			*bitfield = btf_member_bitfield_size(t, i);
			return true;
		}
		mt = strip(c->btf, &mid);
		if (mt && (btf_is_struct(mt) || btf_is_union(mt)) && depth < MAX_DEPTH &&
		    find_member(c, mt, name, bit_off + btf_member_bit_offset(t, i), type, off,
		                bitfield, depth + 1))
			return true;
	}
	return false;
}

static bool find_var(struct codec *c, const struct btf_type *t, const char *name,
                     __u32 bit_off, __u32 *type, __u32 *off)
{
	const struct btf_var_secinfo *v = btf_var_secinfos(t);
	__u16 i, n = btf_vlen(t);

	for (i = 0; i < n; i++) {
		const struct btf_type *var = btf__type_by_id(c->btf, v[i].type);
		const char *vname;

		if (!var || !btf_is_var(var))
			continue;
		vname = btf__name_by_offset(c->btf, var->name_off);
		if (vname && !strcmp(vname, name)) {
			*type = var->type;
			*off = bit_off + v[i].offset * 8;
			return true;
		}
	}
	return false;
}

/* A table keyed by field names over a struct, union or DATASEC. */
static bool encode_fields(struct codec *c, int idx, __u32 id, const struct btf_type *t,
                          __u32 bit_off, int depth)
{
	lua_State *L = c->L;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		__u32 mtype = 0, moff = 0, mbits = 0;
		int key = lua_gettop(L) - 1;
		const char *name, *shown, *tname;
		size_t was;
		bool found;

		/* the pushes in order: C does not order a call's arguments */
		if (lua_type(L, key) != LUA_TSTRING) {
			shown = bpfmap_show(L, key);
			tname = type_str(c, id);
			return refuse(c, EINVAL, "%s takes fields by name, not %s %s", tname,
			              luaL_typename(L, key), shown);
		}
		name = lua_tostring(L, key);
		found = btf_is_datasec(t) ? find_var(c, t, name, bit_off, &mtype, &moff)
		                          : find_member(c, t, name, bit_off, &mtype, &moff, &mbits, 0);
		if (!found) {
			shown = bpfmap_show(L, key);
			tname = type_str(c, id);
			return refuse(c, ENOENT, "%s has no field '%s'", tname, shown);
		}
		was = path_push(c, name, 0);
		if (!encode(c, lua_gettop(L), mtype, moff, mbits, depth + 1))
			return false;
		path_pop(c, was);
		lua_pop(L, 1);
	}
	return true;
}

static bool encode_array(struct codec *c, int idx, __u32 id, const struct btf_type *t,
                         __u32 bit_off, int depth)
{
	lua_State *L = c->L;
	const struct btf_array *a = btf_array(t);
	__s64 esize = btf__resolve_size(c->btf, a->type);

	if (esize <= 0)
		return refuse(c, EINVAL, "%s has elements of unknown size", type_str(c, id));
	if (lua_type(L, idx) == LUA_TSTRING && is_char(c->btf, a->type)) {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);

		if (len > a->nelems)
			return refuse(c, ERANGE, "a string of %I bytes does not fit %s",
			              (lua_Integer)len, type_str(c, id));
		/* the rest zeroed: the string reads back as itself */
		memset(c->data + bit_off / 8, 0, a->nelems);
		memcpy(c->data + bit_off / 8, s, len);
		add_span(c, bit_off, a->nelems * 8);
		return true;
	}
	if (lua_type(L, idx) != LUA_TTABLE)
		return refuse(c, EINVAL, "%s needs a list%s, got %s", type_str(c, id),
		              is_char(c->btf, a->type) ? " or a string" : "", luaL_typename(L, idx));
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_Integer i;
		size_t was;

		if (!lua_isinteger(L, -2)) {
			const char *shown = bpfmap_show(L, -2);

			return refuse(c, EINVAL, "%s is a list, not a table keyed by %s", type_str(c, id),
			              shown);
		}
		i = lua_tointeger(L, -2);
		if (i < 1 || (lua_Unsigned)i > a->nelems)
			return refuse(c, EINVAL, "%s has %I elements; the list has index %I",
			              type_str(c, id), (lua_Integer)a->nelems, i);
		was = path_push(c, NULL, i - 1);
		if (!encode(c, lua_gettop(L), a->type, bit_off + (__u32)(i - 1) * (__u32)esize * 8, 0,
		            depth + 1))
			return false;
		path_pop(c, was);
		lua_pop(L, 1);
	}
	return true;
}

/* Encode the Lua value at idx as type id at bit_off of c->data. */
static bool encode(struct codec *c, int idx, __u32 id, __u32 bit_off, __u32 bitfield, int depth)
{
	lua_State *L = c->L;
	__u32 declared = id;
	const struct btf_type *t = strip(c->btf, &id);
	__s64 size = btf__resolve_size(c->btf, id);
	struct scalar s = { bit_off, bitfield, false };

	luaL_checkstack(L, 6, "value nested too deep");
	if (!t || depth > MAX_DEPTH || (!bitfield && (size < 0 || !fits(c, bit_off, (__u64)size * 8))))
		return refuse(c, EINVAL, "cannot encode %s here", type_str(c, declared));
	switch (btf_kind(t)) {
	case BTF_KIND_INT:
		if (!bitfield) {
			s.bit_off += btf_int_offset(t);
			s.nbits = btf_int_bits(t);
		}
		s.is_signed = btf_int_encoding(t) & BTF_INT_SIGNED;
		if (s.nbits == 0 || s.nbits > 64 || !fits(c, s.bit_off, s.nbits))
			return refuse(c, EINVAL, "cannot encode %s here", type_str(c, declared));
		return encode_int(c, idx, declared, &s,
		                  btf_int_encoding(t) & BTF_INT_BOOL ? BPFMAP_LEAF_BOOL : BPFMAP_LEAF_INT);
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		if (!bitfield)
			s.nbits = t->size * 8;
		if (s.nbits == 0 || s.nbits > 64 || !fits(c, s.bit_off, s.nbits))
			return refuse(c, EINVAL, "cannot encode %s here", type_str(c, declared));
		return encode_enum(c, idx, declared, t, &s);
	case BTF_KIND_PTR:
		s.nbits = (__u32)size * 8;
		return encode_int(c, idx, declared, &s, BPFMAP_LEAF_INT);
	case BTF_KIND_FLOAT:
		if (lua_type(L, idx) != LUA_TNUMBER)
			return refuse(c, EINVAL, "%s needs a number, got %s", type_str(c, declared),
			              luaL_typename(L, idx));
		if (size == sizeof(float) && bit_off % 8 == 0) {
			float f = (float)lua_tonumber(L, idx);

			memcpy(c->data + bit_off / 8, &f, sizeof(f));
		} else if (size == sizeof(double) && bit_off % 8 == 0) {
			double d = lua_tonumber(L, idx);

			memcpy(c->data + bit_off / 8, &d, sizeof(d));
		} else {
			return refuse(c, EINVAL, "cannot encode %s", type_str(c, declared));
		}
		add_span(c, bit_off, (__u32)size * 8);
		return true;
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_DATASEC:
		if (lua_type(L, idx) != LUA_TTABLE)
			return refuse(c, EINVAL, "%s needs a table, got %s", type_str(c, declared),
			              luaL_typename(L, idx));
		return encode_fields(c, idx, declared, t, bit_off, depth);
	case BTF_KIND_ARRAY:
		return encode_array(c, idx, declared, t, bit_off, depth);
	default:
		return refuse(c, EINVAL, "%s cannot be written", type_str(c, declared));
	}
}

/*
 * Store the spans the encoder wrote in src into the mapped element dst:
 * each integer of 1, 2, 4 or 8 bytes with one store of its width (atomic
 * when aligned, as set's), anything else byte by byte.
 */
static void store_spans(const struct codec *c, unsigned char *dst, const unsigned char *src)
{
	size_t i;

	for (i = 0; i < c->nspans; i++) {
		__u32 off = c->spans[i].bit_off, n = c->spans[i].nbits;

		if (off % 8 == 0 && (n == 8 || n == 16 || n == 32 || n == 64)) {
			struct bpfmap_leaf leaf = { .offset = off / 8, .size = n / 8 };

			bpfmap_store_field(dst, &leaf, bpfmap_load_field(src, &leaf));
		} else if (off % 8 == 0 && n % 8 == 0) {
			memcpy(dst + off / 8, src + off / 8, n / 8);
		} else {
			put_bits(dst, off, n, get_bits(src, off, n));
		}
	}
}

/* m:write(table [, key]) --> true | nil, msg, errno */
static int ty_write(lua_State *L)
{
	struct mapdata *md;
	struct codec c;
	struct typed_key k;
	unsigned char *mem, *buf;
	const char *what;
	int ncpus = 1, err, i, top;
	bool per_cpu_list = false;
	__u64 flags = BPF_EXIST;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (begin_value(L, "write", 3, &md, &k, &c, &what))
		return 3;
	if (md->read_only || (md->info.map_flags & BPF_F_RDONLY))
		return bpfmap_fail_msg(L, EPERM, lua_pushfstring(L, "%s: the map's descriptor is "
		                       "read-only (BPF_F_RDONLY); nothing written", what));
	/* a per-CPU value: a list of one table per CPU (as read gives), or one
	 * table for every CPU; its shape is checked before the lookup */
	if (bpfmap_is_percpu(md)) {
		__u32 vid = md->info.btf_value_type_id;
		const struct btf_type *vt = strip(c.btf, &vid);
		char shape[96];
		size_t size;

		err = bpfmap_value_layout(md, &ncpus, &size);
		if (err)
			return bpfmap_fail(L, -err, "%s: possible CPUs", what);
		per_cpu_list = vt && !btf_is_array(vt) && lua_rawgeti(L, 2, 1) == LUA_TTABLE;
		if (vt && !btf_is_array(vt))
			lua_pop(L, 1);
		snprintf(shape, sizeof(shape), "a per-CPU value is a list of %d tables (one per "
		         "possible CPU) or one table", ncpus);
		if (per_cpu_list)
			bpfmap_check_list(L, 2, 2, shape);
		if (per_cpu_list && lua_rawlen(L, 2) != (size_t)ncpus)
			return bpfmap_fail_msg(L, EINVAL, lua_pushfstring(L, "%s: %s, got a list of %I; "
			                       "nothing written", what, shape,
			                       (lua_Integer)lua_rawlen(L, 2)));
	}
	lua_pushnil(L);
	c.spans_idx = lua_gettop(L);
	err = load_value(L, md, &k, &mem, &buf, &ncpus);
	if (err == ENOENT && !k.has_index) {
		/* a new key: the fields not given are zero */
		flags = BPF_NOEXIST;
	} else if (err == ENOENT) {
		return bpfmap_fail_msg(L, ENOENT, lua_pushfstring(L, "%s: no element at index %I "
		                       "(max_entries %I); nothing written", what,
		                       (lua_Integer)k.index, (lua_Integer)md->info.max_entries));
	} else if (err) {
		return bpfmap_fail(L, err, "%s: lookup", what);
	}
	if (err == ENOENT && bpfmap_is_percpu(md))
		memset(buf, 0, bpfmap_value_stride(md) * (size_t)ncpus);
	else if (err == ENOENT)
		memset(buf, 0, md->info.value_size);
	top = lua_gettop(L);
	for (i = 0; i < ncpus; i++) {
		int idx = 2;

		if (per_cpu_list) {
			lua_rawgeti(L, 2, i + 1);
			idx = lua_gettop(L);
		}
		c.data = buf + (size_t)i * bpfmap_value_stride(md);
		if (!encode(&c, idx, md->info.btf_value_type_id, 0, 0, 0))
			return bpfmap_fail_msg(L, c.err, lua_tostring(L, -1));
		lua_settop(L, top);
	}
	if (mem) {
		store_spans(&c, mem, buf);
		lua_pushboolean(L, 1);
		return 1;
	}
	bpfmap_log_clear();
	if (bpf_map_update_elem(md->fd, k.bytes, buf, flags)) {
		char why[64];

		err = errno;
		if (err == EPERM && bpfmap_map_frozen(md, why, sizeof(why)))
			return bpfmap_fail_msg(L, EPERM, lua_pushfstring(L, "%s: %s; nothing written",
			                       what, why));
		return bpfmap_fail(L, err, "%s: update", what);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg ty_methods[] = {
	{ "get", ty_get },
	{ "set", ty_set },
	{ "read", ty_read },
	{ "write", ty_write },
	{ NULL, NULL },
};

/* Adds the typed methods to MapData's method table. */
int bpfmap_typed_open(lua_State *L)
{
	luaL_getmetatable(L, BPFMAP_MAPDATA);
	lua_getfield(L, -1, "__index");
	luaL_setfuncs(L, ty_methods, 0);
	lua_pop(L, 2);
	return 0;
}
