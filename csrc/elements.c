/*
 * Element operations on a MapData: lookup, update, delete,
 * lookup_and_delete, next_key, pairs, freeze, and push/pop/peek for the
 * keyless maps (queue, stack, bloom_filter).
 *
 * Keys and values are Lua binary strings of exactly the map's key_size and
 * value_size bytes, checked before any syscall.  Per-CPU maps take and give
 * a list of strings, one per possible CPU; the kernel's layout is
 * round_up(value_size, 8) bytes per CPU, sliced and padded here.  Every
 * argument is checked and every buffer allocated before the syscall, so no
 * Lua error ever crosses a libbpf frame.
 */
#include "bpfmap.h"
#include "elements.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

const char *const bpfmap_update_flag_names[] = { "any", "noexist", "exist", "lock", NULL };
const __u64 bpfmap_update_flag_values[] = { BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK };

bool bpfmap_type_is_percpu(__u32 type)
{
	switch (type) {
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
		return true;
	default:
		return false;
	}
}

bool bpfmap_is_percpu(const struct mapdata *md)
{
	return bpfmap_type_is_percpu(md->info.type);
}

static bool is_keyless(const struct mapdata *md)
{
	return md->info.type == BPF_MAP_TYPE_QUEUE || md->info.type == BPF_MAP_TYPE_STACK ||
	       md->info.type == BPF_MAP_TYPE_BLOOM_FILTER;
}

/* Push and return the map's type name for messages. */
static const char *type_name(lua_State *L, const struct mapdata *md)
{
	const char *t = bpfmap_map_type_name(md->info.type);

	if (t)
		return lua_pushstring(L, t);
	return lua_pushfstring(L, "type %d", (int)md->info.type);
}

/* nil, "<op> map 'name' (id N): <strerror>", err */
static int fail(lua_State *L, const struct mapdata *md, int err, const char *op)
{
	/* libbpf's element calls are bare syscalls that print nothing, so the
	 * log is cleared here rather than before each call: what it held came
	 * from some earlier operation, and the hot path skips a TLS access */
	bpfmap_log_clear();
	return bpfmap_fail(L, err, "%s map '%s' (id %I)", op, md->info.name,
	                   (lua_Integer)md->info.id);
}

/* The same, raised: for the pairs iterator, which has no room for it. */
static int raise_fail(lua_State *L, const struct mapdata *md, int err, const char *op)
{
	fail(L, md, err, op);
	lua_pop(L, 1);   /* errno */
	return lua_error(L);
}

struct mapdata *bpfmap_check_keyed(lua_State *L, const char *op)
{
	struct mapdata *md = bpfmap_check_mapdata(L, 1);

	if (is_keyless(md))
		bpfmap_arg_error(L, 1, "map '%s' (id %I) is a %s map, which has no keys; "
		                 "use push, pop and peek, not %s", md->info.name,
		                 (lua_Integer)md->info.id, type_name(L, md), op);
	return md;
}

/* Push and return the name of what is checked: what, or what[index]. */
static const char *entry_name(lua_State *L, const char *what, lua_Integer index)
{
	if (index > 0)
		return lua_pushfstring(L, "%s[%I]", what, index);
	return lua_pushstring(L, what);
}

const char *bpfmap_check_bytes(lua_State *L, int arg, int idx, const char *what, lua_Integer index,
                               size_t want)
{
	size_t len;
	const char *s;

	if (lua_type(L, idx) != LUA_TSTRING) {
		/* named first: entry_name pushes, and idx may be relative or
		 * past the top (a missing argument) */
		const char *got = luaL_typename(L, idx);

		bpfmap_arg_error(L, arg, "%s must be a string of %I bytes, got %s",
		                 entry_name(L, what, index), (lua_Integer)want, got);
	}
	s = lua_tolstring(L, idx, &len);
	if (len != want)
		bpfmap_arg_error(L, arg, "%s must be %I bytes, got %I", entry_name(L, what, index),
		                 (lua_Integer)want, (lua_Integer)len);
	return s;
}

static const char *check_key(lua_State *L, struct mapdata *md, int arg)
{
	return bpfmap_check_bytes(L, arg, arg, "key", 0, md->info.key_size);
}

size_t bpfmap_value_stride(const struct mapdata *md)
{
	return ((size_t)md->info.value_size + 7) & ~(size_t)7;
}

int bpfmap_value_layout(const struct mapdata *md, int *ncpus, size_t *size)
{
	if (!bpfmap_is_percpu(md)) {
		*ncpus = 1;
		*size = md->info.value_size;
		return 0;
	}
	*ncpus = libbpf_num_possible_cpus();
	if (*ncpus < 0)
		return *ncpus;
	*size = bpfmap_value_stride(md) * (size_t)*ncpus;
	return 0;
}

void bpfmap_push_value(lua_State *L, const struct mapdata *md, const char *buf, int ncpus)
{
	size_t stride = bpfmap_value_stride(md);
	int i;

	if (!bpfmap_is_percpu(md)) {
		lua_pushlstring(L, buf, md->info.value_size);
		return;
	}
	lua_createtable(L, ncpus, 0);
	for (i = 0; i < ncpus; i++) {
		lua_pushlstring(L, buf + (size_t)i * stride, md->info.value_size);
		lua_rawseti(L, -2, i + 1);
	}
}

void bpfmap_pack_percpu(lua_State *L, const struct mapdata *md, int arg, int idx, const char *what,
                        lua_Integer index, int ncpus, char *dst)
{
	size_t stride = bpfmap_value_stride(md), len, n;
	char list_what[64];
	int i;

	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) != LUA_TTABLE) {
		const char *got = luaL_typename(L, idx);   /* before entry_name pushes */

		bpfmap_arg_error(L, arg, "%s must be a list of %d strings (one per possible CPU), "
		                 "got %s", entry_name(L, what, index), ncpus, got);
	}
	if (index > 0)
		snprintf(list_what, sizeof(list_what), "%s[%lld] must be a list of strings", what,
		         (long long)index);
	else
		snprintf(list_what, sizeof(list_what), "%s must be a list of strings", what);
	bpfmap_check_list(L, arg, idx, list_what);
	n = lua_rawlen(L, idx);
	if (n != (size_t)ncpus)
		bpfmap_arg_error(L, arg, "%s must be a list of %d strings (one per possible CPU), "
		                 "got %I", entry_name(L, what, index), ncpus, (lua_Integer)n);
	memset(dst, 0, stride * (size_t)ncpus);
	for (i = 0; i < ncpus; i++) {
		const char *s;

		if (lua_rawgeti(L, idx, i + 1) != LUA_TSTRING) {
			const char *got = luaL_typename(L, -1);

			bpfmap_arg_error(L, arg, "%s[%d] must be a string of %I bytes, got %s",
			                 entry_name(L, what, index), i + 1,
			                 (lua_Integer)md->info.value_size, got);
		}
		s = lua_tolstring(L, -1, &len);
		if (len != md->info.value_size)
			bpfmap_arg_error(L, arg, "%s[%d] must be %I bytes, got %I",
			                 entry_name(L, what, index), i + 1,
			                 (lua_Integer)md->info.value_size, (lua_Integer)len);
		memcpy(dst + (size_t)i * stride, s, len);
		lua_pop(L, 1);
	}
}

/*
 * The value argument at arg, in the kernel's layout: the string itself, or
 * for a per-CPU map a scratch buffer (left on the stack) filled from a list
 * of exactly ncpus strings.
 */
static const void *check_value(lua_State *L, struct mapdata *md, int arg, int ncpus, size_t size)
{
	char *buf;

	if (!bpfmap_is_percpu(md))
		return bpfmap_check_bytes(L, arg, arg, "value", 0, md->info.value_size);
	buf = bpfmap_scratch(L, size);
	bpfmap_pack_percpu(L, md, arg, arg, "value", 0, ncpus, buf);
	return buf;
}

/*
 * Values up to this size are read into the C stack: a userdata per lookup
 * (a malloc, and later a free by the GC) cost about 25 ns on top of a
 * syscall of about 1 us (bench/RESULTS.md, "outside the kernel").
 */
#define LOOKUP_STACK_BYTES 256

/*
 * The value at key (NULL for a queue or stack), pushed, or nil when there
 * is none; taken out of the map with and_delete.  Shared by lookup,
 * lookup_and_delete, peek and pop, which differ only in how they check
 * their arguments.
 */
static int read_value(lua_State *L, struct mapdata *md, const char *key, bool and_delete,
                      const char *op)
{
	char small[LOOKUP_STACK_BYTES];
	size_t size;
	int ncpus, err, r;
	char *buf;

	err = bpfmap_value_layout(md, &ncpus, &size);
	if (err)
		return fail(L, md, -err, op);
	buf = size <= sizeof(small) ? small : bpfmap_scratch(L, size);
	r = and_delete ? bpf_map_lookup_and_delete_elem(md->fd, key, buf)
	               : bpf_map_lookup_elem(md->fd, key, buf);
	if (r) {
		err = errno;
		if (err == ENOENT) {
			lua_pushnil(L);
			return 1;
		}
		return fail(L, md, err, op);
	}
	bpfmap_push_value(L, md, buf, ncpus);
	return 1;
}

static int lookup_common(lua_State *L, const char *op, bool and_delete)
{
	struct mapdata *md = bpfmap_check_keyed(L, op);

	return read_value(L, md, check_key(L, md, 2), and_delete, op);
}

/* m:lookup(key) --> value | nil (missing) | nil, msg, errno */
static int el_lookup(lua_State *L)
{
	return lookup_common(L, "lookup", false);
}

/* m:lookup_and_delete(key) --> value | nil (missing) | nil, msg, errno */
static int el_lookup_and_delete(lua_State *L)
{
	return lookup_common(L, "lookup_and_delete", true);
}

/* m:update(key, value [, flags]) --> true | nil, msg, errno */
static int el_update(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "update");
	const char *key = check_key(L, md, 2);
	const void *value;
	size_t size;
	int ncpus, err, flag;

	/* the flag first: check_value's scratch buffer may land at index 4;
	 * no flag is the common case, and skips the option's string compares */
	flag = lua_isnoneornil(L, 4) ? 0 : bpfmap_check_option(L, 4, "any", bpfmap_update_flag_names);
	err = bpfmap_value_layout(md, &ncpus, &size);
	if (err)
		return fail(L, md, -err, "update");
	value = check_value(L, md, 3, ncpus, size);
	if (bpf_map_update_elem(md->fd, key, value, bpfmap_update_flag_values[flag]))
		return fail(L, md, errno, "update");
	lua_pushboolean(L, 1);
	return 1;
}

/* m:delete(key) --> true | nil, msg, errno */
static int el_delete(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "delete");
	const char *key = check_key(L, md, 2);

	if (bpf_map_delete_elem(md->fd, key))
		return fail(L, md, errno, "delete");
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * The key after key (NULL: the first) pushed, 0; or ENOENT at the end
 * (nothing pushed), or another errno (nothing pushed).
 */
static int next_key(lua_State *L, struct mapdata *md, const char *key)
{
	char *buf = bpfmap_scratch(L, md->info.key_size);
	int err;

	if (bpf_map_get_next_key(md->fd, key, buf)) {
		err = errno;
		lua_pop(L, 1);
		return err;
	}
	lua_pushlstring(L, buf, md->info.key_size);
	lua_remove(L, -2);
	return 0;
}

int bpfmap_key_walk_next(struct bpfmap_key_walk *w)
{
	int r, err;

	for (;;) {
		if (bpf_map_get_next_key(w->fd, w->have_prev ? w->prev : NULL, w->cur)) {
			err = errno;
			if (err == ENOENT)
				return BPFMAP_WALK_END;
			w->failed = BPFMAP_WALK_NEXT_KEY;
			return -err;
		}
		if (w->limit >= 0 && w->taken == w->limit)
			return BPFMAP_WALK_MORE;
		if (w->have_gone && memcmp(w->gone, w->cur, w->key_size) == 0) {
			memcpy(w->prev, w->cur, w->key_size);   /* an empty slot: step past it */
			w->have_prev = true;
			w->have_gone = false;
			continue;
		}
		r = w->deleting ? bpf_map_lookup_and_delete_elem(w->fd, w->cur, w->value)
		                : bpf_map_lookup_elem(w->fd, w->cur, w->value);
		if (r) {
			err = errno;
			if (err != ENOENT) {
				w->failed = BPFMAP_WALK_LOOKUP;
				return -err;
			}
			memcpy(w->gone, w->cur, w->key_size);   /* vanished: ask again after prev */
			w->have_gone = true;
			continue;
		}
		w->have_gone = false;
		w->taken++;
		if (!w->deleting) {
			memcpy(w->prev, w->cur, w->key_size);
			w->have_prev = true;
		}
		return BPFMAP_WALK_ENTRY;
	}
}

/* m:next_key([key]) --> key | nil (at the end) | nil, msg, errno */
static int el_next_key(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "next_key");
	const char *key = lua_isnoneornil(L, 2) ? NULL : check_key(L, md, 2);
	int err = next_key(L, md, key);

	if (err == ENOENT) {
		lua_pushnil(L);
		return 1;
	}
	if (err)
		return fail(L, md, err, "next_key");
	return 1;
}

/*
 * The pairs iterator: (m, previous key) --> key, value | nil.  One step of
 * bpfmap_key_walk_next after the previous key, so a key deleted under the
 * loop is skipped (as bcc skips it) and the walk goes on from where it was.
 * The walk's buffers are on the C stack when small, as for lookup.
 */
static int pairs_next(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "pairs");
	const char *prev = lua_isnoneornil(L, 2) ? NULL : check_key(L, md, 2);
	size_t ks = md->info.key_size, size;
	struct bpfmap_key_walk w = { .fd = md->fd, .key_size = ks, .limit = -1 };
	char small[LOOKUP_STACK_BYTES];
	int ncpus, r;
	char *buf;

	r = bpfmap_value_layout(md, &ncpus, &size);
	if (r)
		return raise_fail(L, md, -r, "pairs over");
	buf = 3 * ks + size <= sizeof(small) ? small : bpfmap_scratch(L, 3 * ks + size);
	w.prev = buf;
	w.cur = buf + ks;
	w.gone = buf + 2 * ks;
	w.value = buf + 3 * ks;
	if (prev) {
		memcpy(w.prev, prev, ks);
		w.have_prev = true;
	}
	r = bpfmap_key_walk_next(&w);
	if (r == BPFMAP_WALK_END)
		return 0;
	if (r < 0)
		return raise_fail(L, md, -r, w.failed == BPFMAP_WALK_NEXT_KEY ? "pairs (next_key) over"
		                                                              : "pairs (lookup) over");
	lua_pushlstring(L, w.cur, ks);
	bpfmap_push_value(L, md, w.value, ncpus);
	return 2;
}

/* for k, v in m:pairs() do ... end */
static int el_pairs(lua_State *L)
{
	bpfmap_check_keyed(L, "pairs");
	lua_pushcfunction(L, pairs_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* m:freeze() --> true | nil, msg, errno */
static int el_freeze(lua_State *L)
{
	struct mapdata *md = bpfmap_check_mapdata(L, 1);

	/* the kernel counts a writable mapping as an active writer and refuses
	 * to freeze (EBUSY) while it lasts: ours (typed get/read/set,
	 * BpfMapWrite through this MapData) goes first, and a later use maps
	 * afresh, which a frozen map refuses, so reads fall back to lookups */
	if (md->mem) {
		munmap(md->mem, md->mem_len);
		md->mem = NULL;
		md->mem_len = 0;
	}
	md->mem_err = 0;
	if (bpf_map_freeze(md->fd))
		return fail(L, md, errno, "freeze");
	lua_pushboolean(L, 1);
	return 1;
}

/* The MapData at 1, open, a queue or stack (or also a bloom_filter). */
static struct mapdata *check_keyless(lua_State *L, const char *method, bool bloom)
{
	struct mapdata *md = bpfmap_check_mapdata(L, 1);

	if (md->info.type == BPF_MAP_TYPE_QUEUE || md->info.type == BPF_MAP_TYPE_STACK ||
	    (bloom && md->info.type == BPF_MAP_TYPE_BLOOM_FILTER))
		return md;
	bpfmap_arg_error(L, 1, "map '%s' (id %I) is a %s map; %s needs a %s map",
	                 md->info.name, (lua_Integer)md->info.id, type_name(L, md), method,
	                 bloom ? "queue, stack or bloom_filter" : "queue or stack");
	return NULL;
}

/* m:push(value [, flags]) --> true | nil, msg, errno */
static int el_push(lua_State *L)
{
	struct mapdata *md = check_keyless(L, "push", true);
	const char *value = bpfmap_check_bytes(L, 2, 2, "value", 0, md->info.value_size);
	int flag = bpfmap_check_option(L, 3, "any", bpfmap_update_flag_names);

	if (bpf_map_update_elem(md->fd, NULL, value, bpfmap_update_flag_values[flag]))
		return fail(L, md, errno, "push to");
	lua_pushboolean(L, 1);
	return 1;
}

static int pop_or_peek(lua_State *L, const char *method, const char *op, bool pop)
{
	return read_value(L, check_keyless(L, method, false), NULL, pop, op);
}

/* m:pop() --> value | nil (empty) | nil, msg, errno */
static int el_pop(lua_State *L)
{
	return pop_or_peek(L, "pop", "pop from", true);
}

/*
 * m:peek() --> value | nil (empty) | nil, msg, errno, for a queue or stack;
 * m:peek(value) --> true (maybe present) | false | nil, msg, errno for a
 * bloom_filter, whose lookup takes the value to test.
 */
static int el_peek(lua_State *L)
{
	struct mapdata *md = bpfmap_check_mapdata(L, 1);
	const char *value;
	char *buf;
	int err;

	if (md->info.type != BPF_MAP_TYPE_BLOOM_FILTER)
		return pop_or_peek(L, "peek", "peek at", false);
	value = bpfmap_check_bytes(L, 2, 2, "value", 0, md->info.value_size);
	/* a copy: the kernel is handed a writable buffer, never a Lua string */
	buf = bpfmap_scratch(L, md->info.value_size);
	memcpy(buf, value, md->info.value_size);
	if (bpf_map_lookup_elem(md->fd, NULL, buf) == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	err = errno;
	if (err == ENOENT) {
		lua_pushboolean(L, 0);
		return 1;
	}
	return fail(L, md, err, "peek at");
}

static const luaL_Reg el_methods[] = {
	{ "lookup", el_lookup },
	{ "update", el_update },
	{ "delete", el_delete },
	{ "lookup_and_delete", el_lookup_and_delete },
	{ "next_key", el_next_key },
	{ "pairs", el_pairs },
	{ "freeze", el_freeze },
	{ "push", el_push },
	{ "pop", el_pop },
	{ "peek", el_peek },
	{ NULL, NULL },
};

/* Adds the element methods to MapData's method table. */
int bpfmap_elements_open(lua_State *L)
{
	luaL_getmetatable(L, BPFMAP_MAPDATA);
	lua_getfield(L, -1, "__index");
	luaL_setfuncs(L, el_methods, 0);
	lua_pop(L, 2);
	return 0;
}
