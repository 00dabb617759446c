/*
 * BTF loaded from the kernel, and field paths resolved in it, cached per Lua
 * state so that writing the same field again costs no syscall and no BTF
 * walk.  Each cached BTF is pinned by a descriptor we hold: the kernel cannot
 * free it, so its id cannot be handed to another program's BTF while the
 * cache still answers for that id.  The cache is small (programs come and
 * go); an evicted slot drops its descriptor and the resolutions made in it.
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
	int fd;
	struct btf *btf;
};

struct btf_cache {
	struct btf_slot slot[CACHE_SLOTS];
	unsigned next;     /* FIFO eviction */
	__u32 gen;
};

static const char cache_key = 'b';
#define BTF_CACHE "bpfmap.btf_cache"

static void drop(struct btf_slot *s)
{
	if (s->btf)
		btf__free(s->btf);
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static int cache_gc(lua_State *L)
{
	struct btf_cache *c = luaL_checkudata(L, 1, BTF_CACHE);
	unsigned i;

	for (i = 0; i < CACHE_SLOTS; i++)
		drop(&c->slot[i]);
	return 0;
}

/* Pushes the cache userdata; its user value 1 is the resolutions table. */
static struct btf_cache *push_cache(lua_State *L)
{
	struct btf_cache *c;
	unsigned i;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TNIL)
		return lua_touserdata(L, -1);
	lua_pop(L, 1);
	c = lua_newuserdatauv(L, sizeof(*c), 1);
	memset(c, 0, sizeof(*c));
	for (i = 0; i < CACHE_SLOTS; i++)
		c->slot[i].fd = -1;
	if (luaL_newmetatable(L, BTF_CACHE)) {
		lua_pushcfunction(L, cache_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	lua_newtable(L);
	lua_setiuservalue(L, -2, 1);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
	return c;
}

static struct btf_slot *load_slot(lua_State *L, struct btf_cache *c, __u32 btf_id, int *err)
{
	struct btf_slot *s = &c->slot[c->next];
	int fd;
	struct btf *btf;

	/* pin the id first, so the load below reads the object we pinned */
	fd = bpf_btf_get_fd_by_id(btf_id);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	btf = btf__load_from_kernel_by_id(btf_id);
	if (!btf) {
		*err = errno ? -errno : -EINVAL;
		close(fd);
		return NULL;
	}
	drop(s);
	s->btf_id = btf_id;
	s->gen = ++c->gen;
	s->fd = fd;
	s->btf = btf;
	c->next = (c->next + 1) % CACHE_SLOTS;
	/* resolutions keyed by the evicted slot's generation die with it */
	lua_newtable(L);
	lua_setiuservalue(L, -2, 1);
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

const struct btf *bpfmap_btf_get(lua_State *L, __u32 btf_id, int *err)
{
	struct btf_cache *c = push_cache(L);
	struct btf_slot *s = find_slot(c, btf_id);

	*err = 0;
	if (!s)
		s = load_slot(L, c, btf_id, err);
	lua_pop(L, 1);
	return s ? s->btf : NULL;
}

int bpfmap_btf_leaf(lua_State *L, __u32 btf_id, __u32 value_type_id, const char *path,
                    struct bpfmap_leaf_memo *memo, struct bpfmap_leaf *leaf,
                    char *err, size_t errlen)
{
	struct btf_cache *c = push_cache(L);
	struct btf_slot *s = find_slot(c, btf_id);
	luaL_Buffer key;
	int rc = 0;

	if (s && memo && memo->btf_id == btf_id && memo->gen == s->gen &&
	    memo->value_type_id == value_type_id) {
		*leaf = memo->leaf;
		lua_pop(L, 1);
		return 0;
	}
	if (!s) {
		s = load_slot(L, c, btf_id, &rc);
		if (!s) {
			lua_pop(L, 1);
			snprintf(err, errlen, "load BTF id %u: %s", btf_id, strerror(-rc));
			return rc;
		}
	}
	lua_getiuservalue(L, -1, 1);
	luaL_buffinit(L, &key);
	luaL_addlstring(&key, (const char *)&s->gen, sizeof(s->gen));
	luaL_addlstring(&key, (const char *)&value_type_id, sizeof(value_type_id));
	luaL_addstring(&key, path);
	luaL_pushresult(&key);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, -3) == LUA_TSTRING && lua_rawlen(L, -1) == sizeof(*leaf)) {
		memcpy(leaf, lua_tostring(L, -1), sizeof(*leaf));
		lua_pop(L, 4);
	} else {
		lua_pop(L, 1);
		rc = bpfmap_btf_resolve(s->btf, value_type_id, path, leaf, err, errlen);
		if (rc) {
			lua_pop(L, 3);
			return rc;
		}
		lua_pushlstring(L, (const char *)leaf, sizeof(*leaf));
		lua_rawset(L, -3);
		lua_pop(L, 2);
	}
	if (memo) {
		memo->btf_id = btf_id;
		memo->gen = s->gen;
		memo->value_type_id = value_type_id;
		memo->leaf = *leaf;
	}
	return 0;
}

/* bpfmap.clear_cache(): drop every cached BTF and resolution */
static int clear_cache(lua_State *L)
{
	struct btf_cache *c = push_cache(L);
	unsigned i;

	for (i = 0; i < CACHE_SLOTS; i++)
		drop(&c->slot[i]);
	lua_newtable(L);
	lua_setiuservalue(L, -2, 1);
	lua_pop(L, 1);
	return 0;
}

int bpfmap_btf_cache_open(lua_State *L)
{
	lua_pushcfunction(L, clear_cache);
	lua_setfield(L, -2, "clear_cache");
	return 0;
}
