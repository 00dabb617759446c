/*
 * Batched element operations on a MapData: lookup_batch, update_batch,
 * delete_batch and lookup_and_delete_batch, over libbpf's bpf_map_*_batch.
 *
 * Keys and values are checked exactly as elements.c checks them (the same
 * helpers, elements.h), every one of them before the first syscall, and
 * every buffer is allocated before libbpf is called, so no Lua error ever
 * crosses a libbpf frame.  Buffers hold one batch, not the whole map: a
 * 100k-entry map is moved through a few tens of calls of about 64 KiB each.
 *
 * Where the kernel has no batch command for a map type (it answers
 * ENOTSUPP, 524, or EOPNOTSUPP), the operation is done element by element
 * with the same results, and the type is remembered so that later calls go
 * straight there.  EINVAL on a first call that moved nothing (a kernel
 * older than the batch commands, 5.6) also falls back, but only for that
 * call: arguments the kernel refuses say EINVAL too, and the element
 * operations then refuse them in their own words.
 */
#include "bpfmap.h"
#include "elements.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#ifndef ENOTSUPP
#define ENOTSUPP 524   /* kernel-internal; bpf() returns it for a missing op */
#endif

/*
 * Bytes of keys plus values one call moves unless told otherwise.  A call
 * costs about 1 us of entry and exit against about 0.26 us per element
 * (measured in C on a 100k-entry hash map), so a few thousand elements per
 * call spend well under 1% on the syscall itself: reading that map in
 * batches of 1024, 5461 (this size) or all 100000 took the same time
 * within noise, and a fixed size keeps the buffers small for any map.
 */
#define BATCH_BYTES (64 * 1024)

/* Consecutive EINTRs (the kernel's generic walk lost a key to a concurrent
 * delete three times) tolerated before the walk gives up. */
#define EINTR_RETRIES 8

enum batch_op { OP_LOOKUP, OP_LOOKUP_AND_DELETE, OP_UPDATE, OP_DELETE, OP_COUNT };

static const char *const op_names[OP_COUNT] = {
	"lookup_batch", "lookup_and_delete_batch", "update_batch", "delete_batch",
};

/*
 * Map types whose kernel has no batch command for an op, learnt from the
 * kernel's own answer.  It is a property of the running kernel, the same
 * for every Lua state, hence static; atomics since states may live in
 * different threads.
 */
#define TYPE_SLOTS 64
static unsigned char no_batch[OP_COUNT][TYPE_SLOTS];

static bool batch_known_missing(const struct mapdata *md, enum batch_op op)
{
	return md->info.type < TYPE_SLOTS &&
	       __atomic_load_n(&no_batch[op][md->info.type], __ATOMIC_RELAXED);
}

/*
 * Whether a failed batch call that moved nothing means "no batch here":
 * ENOTSUPP/EOPNOTSUPP are remembered for the type, EINVAL is not (see the
 * top of the file).
 */
static bool batch_missing(const struct mapdata *md, enum batch_op op, int err)
{
	if (err == ENOTSUPP || err == EOPNOTSUPP) {
		if (md->info.type < TYPE_SLOTS)
			__atomic_store_n(&no_batch[op][md->info.type], 1, __ATOMIC_RELAXED);
		return true;
	}
	return err == EINVAL;
}

/* Keys and values of one element in the kernel's batch layout. */
struct layout {
	size_t key_size;
	size_t value_bytes;   /* value_size, or the per-CPU stride times ncpus */
	int ncpus;
};

static int get_layout(const struct mapdata *md, struct layout *lay)
{
	lay->key_size = md->info.key_size;
	return bpfmap_value_layout(md, &lay->ncpus, &lay->value_bytes);
}

/* Elements per call that fill about BATCH_BYTES, at least 1. */
static __u32 default_batch(const struct layout *lay)
{
	size_t per = lay->key_size + lay->value_bytes;

	return per >= BATCH_BYTES ? 1 : (__u32)(BATCH_BYTES / (per ? per : 1));
}

/* The failure of op on md; ENOTSUPP, which strerror does not know, is
 * explained.  `after` is appended to the object's description. */
static int batch_fail(lua_State *L, const struct mapdata *md, int err, enum batch_op op,
                      const char *after)
{
	const char *type = bpfmap_map_type_name(md->info.type);

	if (err == ENOTSUPP)
		return bpfmap_fail(L, err, "%s map '%s' (id %I)%s (%s maps do not support it)",
		                   op_names[op], md->info.name, (lua_Integer)md->info.id, after,
		                   type ? type : "such");
	return bpfmap_fail(L, err, "%s map '%s' (id %I)%s", op_names[op], md->info.name,
	                   (lua_Integer)md->info.id, after);
}

/* ---- reading: lookup_batch, lookup_and_delete_batch ---- */

static const char *const lookup_opts[] = { "batch_size", NULL };

/* opts at arg: nil, or { batch_size = n }; returns the batch size. */
static __u32 check_lookup_opts(lua_State *L, int arg, const struct mapdata *md,
                               const struct layout *lay)
{
	lua_Integer v;
	__u32 batch = default_batch(lay);
	__u32 cap = md->info.max_entries ? md->info.max_entries : 1;

	if (bpfmap_check_opt_keys(L, arg, lookup_opts) &&
	    bpfmap_opt_field_int(L, arg, "batch_size", 1, UINT32_MAX, &v))
		batch = (__u32)v;
	/* a call never returns more than the map holds */
	return batch < cap ? batch : cap;
}

/* Where one walk keeps its state; the buffers live on the Lua stack. */
struct walk {
	struct mapdata *md;
	enum batch_op op;
	struct layout lay;
	int keys_tab, values_tab;   /* stack indices of the result lists */
	lua_Integer n;              /* entries in them */
};

static void push_entry(lua_State *L, struct walk *w, const char *key, const char *value)
{
	lua_pushlstring(L, key, w->lay.key_size);
	lua_rawseti(L, w->keys_tab, w->n + 1);
	bpfmap_push_value(L, w->md, value, w->lay.ncpus);
	lua_rawseti(L, w->values_tab, w->n + 1);
	w->n++;
}

/*
 * A failed walk: nil, msg, errno; after lookup_and_delete, also the keys
 * and values already removed, which would otherwise be lost.
 */
static int walk_fail(lua_State *L, struct walk *w, int err)
{
	if (w->op != OP_LOOKUP_AND_DELETE)
		return batch_fail(L, w->md, err, w->op, "");
	batch_fail(L, w->md, err, w->op,
	           w->n ? lua_pushfstring(L, ", after removing %I (returned too)", w->n) : "");
	lua_pushvalue(L, w->keys_tab);
	lua_pushvalue(L, w->values_tab);
	return 5;
}

/*
 * Element by element, with bpfmap_key_walk_next (get_next_key, then lookup
 * or lookup_and_delete), which skips keys that vanish and steps past empty
 * slots as pairs does.  While deleting, the walk stops after max_entries,
 * so a program refilling the map cannot keep it going forever.
 */
static int walk_elements(lua_State *L, struct walk *w)
{
	struct mapdata *md = w->md;
	size_t ks = w->lay.key_size;
	struct bpfmap_key_walk kw = {
		.fd = md->fd,
		.key_size = ks,
		.prev = bpfmap_scratch(L, ks),
		.cur = bpfmap_scratch(L, ks),
		.gone = bpfmap_scratch(L, ks),
		.value = bpfmap_scratch(L, w->lay.value_bytes),
		.deleting = w->op == OP_LOOKUP_AND_DELETE,
		.limit = -1,
	};
	int r;

	for (;;) {
		/* (a map without max_entries, such as a cgroup storage, has no bound) */
		if (kw.deleting && md->info.max_entries && w->n >= (lua_Integer)md->info.max_entries)
			break;
		bpfmap_log_clear();
		r = bpfmap_key_walk_next(&kw);
		if (r == BPFMAP_WALK_END)
			break;
		if (r < 0)
			return walk_fail(L, w, -r);
		push_entry(L, w, kw.cur, kw.value);
	}
	lua_pushvalue(L, w->keys_tab);
	lua_pushvalue(L, w->values_tab);
	return 2;
}

/*
 * The kernel's batch walk.  The token it hands back (a bucket index for
 * hash maps, the last key for the generic walk of arrays) goes in again
 * unread.  ENOENT ends the walk and may come with a last partial count;
 * ENOSPC with nothing moved means a hash bucket holds more elements than
 * the batch, so the batch is doubled and the same call made again.
 */
static int walk_batches(lua_State *L, struct walk *w, __u32 batch)
{
	struct mapdata *md = w->md;
	size_t tok_size = w->lay.key_size > 8 ? w->lay.key_size : 8;
	char *tok_in = bpfmap_scratch(L, tok_size);
	char *tok_out = bpfmap_scratch(L, tok_size);
	int bufs = lua_gettop(L) + 1;   /* the keys and values buffers */
	char *keys = bpfmap_scratch(L, (size_t)batch * w->lay.key_size);
	char *values = bpfmap_scratch(L, (size_t)batch * w->lay.value_bytes);
	__u32 cap = md->info.max_entries ? md->info.max_entries : 1;
	bool first = true;
	int eintr = 0;

	for (;;) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 count = batch, i;
		int r, err;

		bpfmap_log_clear();
		if (w->op == OP_LOOKUP)
			r = bpf_map_lookup_batch(md->fd, first ? NULL : tok_in, tok_out, keys, values,
			                         &count, &opts);
		else
			r = bpf_map_lookup_and_delete_batch(md->fd, first ? NULL : tok_in, tok_out,
			                                    keys, values, &count, &opts);
		err = r ? errno : 0;
		/* the count is the kernel's only after its walk began: a refusal
		 * before it (ENOTSUPP, EPERM, EINVAL, ...) leaves ours in place,
		 * and only ENOENT and EINTR come with entries */
		if ((err && err != ENOENT && err != EINTR) || count > batch)
			count = 0;
		if (count == 0 && err && err != ENOENT) {
			if (err == ENOSPC && batch < cap) {
				batch = batch > cap / 2 ? cap : batch * 2;
				lua_settop(L, bufs - 1);
				keys = bpfmap_scratch(L, (size_t)batch * w->lay.key_size);
				values = bpfmap_scratch(L, (size_t)batch * w->lay.value_bytes);
				continue;
			}
			if (first && batch_missing(md, w->op, err)) {
				lua_settop(L, bufs - 1);
				return walk_elements(L, w);
			}
			if (err == EINTR && ++eintr <= EINTR_RETRIES)
				continue;
			return walk_fail(L, w, err);
		}
		/* what a failing call moved is kept: after a delete it exists nowhere else */
		for (i = 0; i < count; i++)
			push_entry(L, w, keys + (size_t)i * w->lay.key_size,
			           values + (size_t)i * w->lay.value_bytes);
		if (err && err != ENOENT && err != EINTR)
			return walk_fail(L, w, err);
		/* count 0 without ENOENT cannot happen; it must not loop forever */
		if (err == ENOENT || count == 0)
			break;
		memcpy(tok_in, tok_out, tok_size);
		first = false;
		eintr = 0;
	}
	lua_pushvalue(L, w->keys_tab);
	lua_pushvalue(L, w->values_tab);
	return 2;
}

static int read_all(lua_State *L, enum batch_op op)
{
	struct walk w = { .op = op };
	__u32 batch;
	int err;

	w.md = bpfmap_check_keyed(L, op_names[op]);
	err = get_layout(w.md, &w.lay);
	if (err)
		return batch_fail(L, w.md, -err, op, "");
	batch = check_lookup_opts(L, 2, w.md, &w.lay);
	lua_settop(L, 2);
	lua_newtable(L);
	w.keys_tab = lua_gettop(L);
	lua_newtable(L);
	w.values_tab = lua_gettop(L);
	if (batch_known_missing(w.md, op))
		return walk_elements(L, &w);
	return walk_batches(L, &w, batch);
}

/* m:lookup_batch([opts]) --> keys, values | nil, msg, errno */
static int bt_lookup_batch(lua_State *L)
{
	return read_all(L, OP_LOOKUP);
}

/* m:lookup_and_delete_batch([opts]) --> keys, values
 *   | nil, msg, errno, removed_keys, removed_values */
static int bt_lookup_and_delete_batch(lua_State *L)
{
	return read_all(L, OP_LOOKUP_AND_DELETE);
}

/* ---- writing: update_batch, delete_batch ---- */

/* The list at arg, named `what`; returns its length. */
static lua_Integer check_list_arg(lua_State *L, int arg, const char *what)
{
	if (lua_type(L, arg) != LUA_TTABLE)
		bpfmap_arg_error(L, arg, "%s must be a list of strings, got %s", what,
		                 luaL_typename(L, arg));
	bpfmap_check_list(L, arg, arg, lua_pushfstring(L, "%s must be a list", what));
	lua_pop(L, 1);
	return (lua_Integer)lua_rawlen(L, arg);
}

/* Raise unless every entry of the keys list at arg is a key. */
static void check_keys(lua_State *L, const struct mapdata *md, int arg, lua_Integer n)
{
	lua_Integer i;

	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, arg, i);
		bpfmap_check_bytes(L, arg, -1, "keys", i, md->info.key_size);
		lua_pop(L, 1);
	}
}

/* Copy keys[from .. from+count-1] of the list at arg into buf. */
static void pack_keys(lua_State *L, const struct layout *lay, int arg, lua_Integer from,
                      __u32 count, char *buf)
{
	__u32 i;

	for (i = 0; i < count; i++) {
		lua_rawgeti(L, arg, from + i);
		memcpy(buf + (size_t)i * lay->key_size, lua_tostring(L, -1), lay->key_size);
		lua_pop(L, 1);
	}
}

/* Copy values[from ..] into buf in the kernel's layout; with check, raise
 * for a malformed entry instead (buf may then be one value long). */
static void pack_values(lua_State *L, const struct mapdata *md, const struct layout *lay,
                        int arg, lua_Integer from, __u32 count, char *buf, bool check)
{
	__u32 i;

	for (i = 0; i < count; i++) {
		char *dst = check ? buf : buf + (size_t)i * lay->value_bytes;

		lua_rawgeti(L, arg, from + i);
		if (bpfmap_is_percpu(md))
			bpfmap_pack_percpu(L, md, arg, -1, "values", from + i, lay->ncpus, dst);
		else if (check)
			bpfmap_check_bytes(L, arg, -1, "values", from + i, md->info.value_size);
		else
			memcpy(dst, lua_tostring(L, -1), lay->value_bytes);
		lua_pop(L, 1);
	}
}

/* nil, "<op> map 'name' (id N), keys[i] (<done> <verb> before it): ...",
 * errno, done */
static int write_fail(lua_State *L, const struct mapdata *md, enum batch_op op, int err,
                      lua_Integer index, lua_Integer done, lua_Integer total)
{
	batch_fail(L, md, err, op,
	           lua_pushfstring(L, ", keys[%I] (%I of %I %s before it)", index, done, total,
	                           op == OP_UPDATE ? "written" : "deleted"));
	lua_pushinteger(L, done);
	return 4;
}

/* m:update_batch(keys, values [, flags]) --> n | nil, msg, errno, written */
static int bt_update_batch(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "update_batch");
	struct layout lay;
	lua_Integer n, written = 0, from;
	__u32 chunk;
	int flag, err;
	char *keys, *values;

	n = check_list_arg(L, 2, "keys");
	if (check_list_arg(L, 3, "values") != n)
		bpfmap_arg_error(L, 3, "values must have as many entries as keys (%I), got %I", n,
		                 (lua_Integer)lua_rawlen(L, 3));
	flag = bpfmap_check_option(L, 4, "any", bpfmap_update_flag_names);
	err = get_layout(md, &lay);
	if (err)
		return batch_fail(L, md, -err, OP_UPDATE, "");
	lua_settop(L, 4);
	check_keys(L, md, 2, n);
	pack_values(L, md, &lay, 3, 1, (__u32)n, bpfmap_scratch(L, lay.value_bytes), true);
	lua_settop(L, 4);

	chunk = default_batch(&lay);
	if ((lua_Integer)chunk > n)
		chunk = (__u32)(n > 0 ? n : 1);
	keys = bpfmap_scratch(L, (size_t)chunk * lay.key_size);
	values = bpfmap_scratch(L, (size_t)chunk * lay.value_bytes);
	for (from = 1; from <= n; from += chunk) {
		__u32 count = n - from + 1 < (lua_Integer)chunk ? (__u32)(n - from + 1) : chunk, i;

		pack_keys(L, &lay, 2, from, count, keys);
		pack_values(L, md, &lay, 3, from, count, values, false);
		if (!batch_known_missing(md, OP_UPDATE)) {
			LIBBPF_OPTS(bpf_map_batch_opts, opts,
			            .elem_flags = bpfmap_update_flag_values[flag]);
			__u32 done = count;

			bpfmap_log_clear();
			err = bpf_map_update_batch(md->fd, keys, values, &done, &opts) ? errno : 0;
			/* a call that wrote them all succeeds, so a failure still
			 * showing our count is one the kernel refused before writing
			 * the count: nothing was written */
			if (err && done >= count)
				done = 0;
			if (!err) {
				written += count;
				continue;
			}
			if (done > 0 || !batch_missing(md, OP_UPDATE, err))
				return write_fail(L, md, OP_UPDATE, err, written + done + 1,
				                  written + done, n);
		}
		for (i = 0; i < count; i++) {
			bpfmap_log_clear();
			if (bpf_map_update_elem(md->fd, keys + (size_t)i * lay.key_size,
			                        values + (size_t)i * lay.value_bytes,
			                        bpfmap_update_flag_values[flag]))
				return write_fail(L, md, OP_UPDATE, errno, written + 1, written, n);
			written++;
		}
	}
	lua_pushinteger(L, written);
	return 1;
}

/*
 * m:delete_batch(keys) --> n | nil, msg, errno, deleted
 * A key the map does not hold is skipped and not counted: the kernel's
 * batch stops at it (ENOENT, with the count of those before), and the
 * call goes on after it.
 */
static int bt_delete_batch(lua_State *L)
{
	struct mapdata *md = bpfmap_check_keyed(L, "delete_batch");
	struct layout lay = { .key_size = md->info.key_size };
	lua_Integer n, deleted = 0, from;
	__u32 chunk;
	char *keys;
	int err;

	n = check_list_arg(L, 2, "keys");
	lua_settop(L, 2);
	check_keys(L, md, 2, n);

	chunk = BATCH_BYTES / (lay.key_size ? lay.key_size : 1);
	if (chunk == 0)
		chunk = 1;
	if ((lua_Integer)chunk > n)
		chunk = (__u32)(n > 0 ? n : 1);
	keys = bpfmap_scratch(L, (size_t)chunk * lay.key_size);
	for (from = 1; from <= n; from += chunk) {
		__u32 count = n - from + 1 < (lua_Integer)chunk ? (__u32)(n - from + 1) : chunk;
		__u32 at = 0;   /* keys of this chunk already dealt with */

		pack_keys(L, &lay, 2, from, count, keys);
		while (at < count && !batch_known_missing(md, OP_DELETE)) {
			LIBBPF_OPTS(bpf_map_batch_opts, opts);
			__u32 done = count - at;

			bpfmap_log_clear();
			err = bpf_map_delete_batch(md->fd, keys + (size_t)at * lay.key_size, &done,
			                           &opts) ? errno : 0;
			/* as in update_batch: our own count back means none deleted */
			if (err && done >= count - at)
				done = 0;
			deleted += done;
			at += done;
			if (!err)
				break;
			if (err == ENOENT) {
				at++;   /* keys[from + at - 1] is not in the map */
				continue;
			}
			if (done == 0 && at == 0 && batch_missing(md, OP_DELETE, err))
				break;
			return write_fail(L, md, OP_DELETE, err, from + at, deleted, n);
		}
		for (; at < count; at++) {
			bpfmap_log_clear();
			if (bpf_map_delete_elem(md->fd, keys + (size_t)at * lay.key_size) == 0)
				deleted++;
			else if (errno != ENOENT)
				return write_fail(L, md, OP_DELETE, errno, from + at, deleted, n);
		}
	}
	lua_pushinteger(L, deleted);
	return 1;
}

static const luaL_Reg batch_methods[] = {
	{ "lookup_batch", bt_lookup_batch },
	{ "lookup_and_delete_batch", bt_lookup_and_delete_batch },
	{ "update_batch", bt_update_batch },
	{ "delete_batch", bt_delete_batch },
	{ NULL, NULL },
};

/* Adds the batch methods to MapData's method table. */
int bpfmap_batch_open(lua_State *L)
{
	luaL_getmetatable(L, BPFMAP_MAPDATA);
	lua_getfield(L, -1, "__index");
	luaL_setfuncs(L, batch_methods, 0);
	lua_pop(L, 2);
	return 0;
}
