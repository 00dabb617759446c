/*
 * BTF loaded from the kernel, and field paths resolved in it, cached per Lua
 * state so that writing the same field again costs no syscall and no BTF
 * walk.  Each cached BTF is pinned by a descriptor we hold: the kernel cannot
 * free it, so its id cannot be handed to another program's BTF while the
 * cache still answers for that id.  The cache is small (programs come and
 * go); an evicted slot drops the resolutions made in it.
 *
 * A loaded BTF and its descriptor belong to a small userdata (a "ref"), not
 * to the slot: whoever is using the BTF keeps its ref on the Lua stack, so a
 * finalizer that runs during an allocation and loads other BTF (evicting
 * this slot) or clears the cache cannot free it under a walk.  An evicted
 * BTF is freed, and its descriptor closed, when the ref is collected;
 * clear_cache collects at once.
 */
#include "bpfmap.h"
#include "field.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#define CACHE_SLOTS 16

struct btf_slot {
	__u32 btf_id;      /* 0: empty */
	__u32 gen;         /* distinguishes this load from earlier ones */
	struct btf *btf;   /* owned by the ref in the refs table at slot + 1 */
};

struct btf_cache {
	struct btf_slot slot[CACHE_SLOTS];
	unsigned next;     /* FIFO eviction */
	__u32 gen;
};

/* A loaded BTF and the descriptor that pins its id. */
struct btf_ref {
	struct btf *btf;
	int fd;
};

enum { UV_RESOLUTIONS = 1, UV_REFS = 2 };

static const char cache_key = 'b';
#define BTF_CACHE "bpfmap.btf_cache"
#define BTF_REF "bpfmap.btf_ref"

static int ref_gc(lua_State *L)
{
	struct btf_ref *r = luaL_checkudata(L, 1, BTF_REF);

	if (r->btf)
		btf__free(r->btf);
	if (r->fd >= 0)
		close(r->fd);
	r->btf = NULL;
	r->fd = -1;
	return 0;
}

/* Forget every slot: the refs, collected once nobody uses them, free the
 * BTF.  Allocates nothing when the tables exist, so it cannot raise. */
static void forget_all(lua_State *L, struct btf_cache *c, int cache_idx)
{
	unsigned i;

	memset(c->slot, 0, sizeof(c->slot));
	if (lua_getiuservalue(L, cache_idx, UV_REFS) == LUA_TTABLE)
		for (i = 0; i < CACHE_SLOTS; i++) {
			lua_pushnil(L);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
	lua_pop(L, 1);
}

/* Pushes the cache userdata. */
static struct btf_cache *push_cache(lua_State *L)
{
	struct btf_cache *c;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TNIL)
		return lua_touserdata(L, -1);
	lua_pop(L, 1);
	c = lua_newuserdatauv(L, sizeof(*c), 2);
	memset(c, 0, sizeof(*c));
	luaL_newmetatable(L, BTF_CACHE);
	lua_setmetatable(L, -2);
	lua_newtable(L);
	lua_setiuservalue(L, -2, UV_RESOLUTIONS);
	/* sized up front, so storing a ref later allocates nothing */
	lua_createtable(L, CACHE_SLOTS, 0);
	lua_setiuservalue(L, -2, UV_REFS);
	if (luaL_newmetatable(L, BTF_REF)) {
		lua_pushcfunction(L, ref_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
	return c;
}

/*
 * Load btf_id into the next slot, the cache being at -1.  Pushes the new
 * ref and returns the slot, or pushes nothing and returns NULL with a
 * negative errno in *err.
 */
static struct btf_slot *load_slot(lua_State *L, struct btf_cache *c, __u32 btf_id, int *err)
{
	int cache_idx = lua_gettop(L), ref_idx;
	struct btf_ref *r;
	struct btf_slot *s;
	unsigned i;

	/* every allocation first: a finalizer they run may use the cache */
	r = lua_newuserdatauv(L, sizeof(*r), 0);
	r->btf = NULL;
	r->fd = -1;
	luaL_setmetatable(L, BTF_REF);
	ref_idx = lua_gettop(L);
	lua_newtable(L);   /* the resolutions, once the slot is replaced */
	/* pin the id first, so the load below reads the object we pinned */
	r->fd = bpf_btf_get_fd_by_id(btf_id);
	if (r->fd < 0) {
		*err = -errno;
		r->fd = -1;
		lua_settop(L, cache_idx);
		return NULL;
	}
	r->btf = btf__load_from_kernel_by_id(btf_id);
	if (!r->btf) {
		*err = errno ? -errno : -EINVAL;
		/* now: the ref may not be collected for a long while */
		close(r->fd);
		r->fd = -1;
		lua_settop(L, cache_idx);
		return NULL;
	}
	i = c->next;
	s = &c->slot[i];
	s->btf_id = btf_id;
	s->gen = ++c->gen;
	s->btf = r->btf;
	c->next = (i + 1) % CACHE_SLOTS;
	/* resolutions keyed by the evicted slot's generation die with it */
	lua_setiuservalue(L, cache_idx, UV_RESOLUTIONS);
	lua_getiuservalue(L, cache_idx, UV_REFS);
	lua_pushvalue(L, ref_idx);
	lua_rawseti(L, -2, (lua_Integer)i + 1);   /* the evicted ref, if unused, is collected */
	lua_pop(L, 1);
	return s;
}

static struct btf_slot *find_slot(struct btf_cache *c, __u32 btf_id)
{
	unsigned i;

	for (i = 0; i < CACHE_SLOTS; i++)
		if (c->slot[i].btf_id == btf_id && btf_id)
			return &c->slot[i];
	return NULL;
}

/*
 * The slot holding btf_id, loading it on a miss, with its ref pushed (above
 * the cache at -1) to keep its BTF alive while the caller uses it; or NULL
 * with nothing pushed and a negative errno in *err.
 */
static struct btf_slot *use_slot(lua_State *L, struct btf_cache *c, __u32 btf_id, int *err)
{
	struct btf_slot *s = find_slot(c, btf_id);

	*err = 0;
	if (!s)
		return load_slot(L, c, btf_id, err);
	lua_getiuservalue(L, -1, UV_REFS);
	lua_rawgeti(L, -1, (lua_Integer)(s - c->slot) + 1);
	lua_remove(L, -2);
	return s;
}

const struct btf *bpfmap_btf_get(lua_State *L, __u32 btf_id, int *err)
{
	struct btf_cache *c = push_cache(L);
	struct btf_slot *s = use_slot(L, c, btf_id, err);

	if (!s) {
		lua_pop(L, 1);
		return NULL;
	}
	lua_remove(L, -2);   /* the cache; the ref stays, as the anchor */
	return s->btf;
}

int bpfmap_btf_leaf(lua_State *L, __u32 btf_id, __u32 value_type_id, const char *path,
                    struct bpfmap_leaf_memo *memo, struct bpfmap_leaf *leaf,
                    char *err, size_t errlen)
{
	struct btf_cache *c = push_cache(L);
	struct btf_slot *s = find_slot(c, btf_id);
	const struct btf *btf;
	luaL_Buffer key;
	__u32 gen;
	int rc = 0;

	if (s && memo && memo->btf_id == btf_id && memo->gen == s->gen &&
	    memo->value_type_id == value_type_id) {
		*leaf = memo->leaf;
		lua_pop(L, 1);
		return 0;
	}
	s = use_slot(L, c, btf_id, &rc);
	if (!s) {
		lua_pop(L, 1);
		snprintf(err, errlen, "load BTF id %u: %s", btf_id, strerror(-rc));
		return rc;
	}
	/* taken now: the allocations below may run a finalizer that evicts s */
	btf = s->btf;
	gen = s->gen;
	lua_getiuservalue(L, -2, UV_RESOLUTIONS);
	luaL_buffinit(L, &key);
	luaL_addlstring(&key, (const char *)&gen, sizeof(gen));
	luaL_addlstring(&key, (const char *)&value_type_id, sizeof(value_type_id));
	luaL_addstring(&key, path);
	luaL_pushresult(&key);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, -3) == LUA_TSTRING && lua_rawlen(L, -1) == sizeof(*leaf)) {
		memcpy(leaf, lua_tostring(L, -1), sizeof(*leaf));
		lua_pop(L, 5);
	} else {
		lua_pop(L, 1);
		rc = bpfmap_btf_resolve(btf, value_type_id, path, leaf, err, errlen);
		if (rc) {
			lua_pop(L, 4);
			return rc;
		}
		lua_pushlstring(L, (const char *)leaf, sizeof(*leaf));
		lua_rawset(L, -3);
		lua_pop(L, 3);
	}
	if (memo) {
		memo->btf_id = btf_id;
		memo->gen = gen;
		memo->value_type_id = value_type_id;
		memo->leaf = *leaf;
	}
	return 0;
}

/* bpfmap.clear_cache(): drop every cached BTF and resolution */
static int clear_cache(lua_State *L)
{
	struct btf_cache *c = push_cache(L);

	forget_all(L, c, lua_gettop(L));
	lua_newtable(L);
	lua_setiuservalue(L, -2, UV_RESOLUTIONS);
	lua_pop(L, 1);
	/* release the descriptors now, not at some later collection; a ref a
	 * call still uses survives, and Lua ignores this inside a finalizer */
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}

int bpfmap_btf_cache_open(lua_State *L)
{
	lua_pushcfunction(L, clear_cache);
	lua_setfield(L, -2, "clear_cache");
	return 0;
}
