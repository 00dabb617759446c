/*
 * Btf: a handle to a BTF object loaded in the kernel, so Lua can hand a BTF
 * descriptor to MapData.create (aya's btf_fd) and look type ids up by name.
 * Same lifecycle as MapData: __gc / __close / close() share one release,
 * and a closed handle raises instead of touching a reused descriptor.
 */
#include "bpfmap.h"
#include "btf_path.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#define BPFMAP_BTF "bpfmap.Btf"

struct btf_handle {
	int fd;           /* -1 once closed */
	__u32 id;
	struct btf *btf;
};

static struct btf_handle *to_btf(lua_State *L)
{
	struct btf_handle *h = luaL_checkudata(L, 1, BPFMAP_BTF);

	if (h->fd < 0)
		luaL_error(L, "attempt to use a closed Btf");
	return h;
}

static void release(struct btf_handle *h)
{
	if (h->btf) {
		btf__free(h->btf);
		h->btf = NULL;
	}
	if (h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
}

/* Btf.from_id(id) */
static int btf_from_id(lua_State *L)
{
	lua_Integer id = bpfmap_check_range(L, 1, "id", 0, UINT32_MAX);
	struct btf_handle *h = lua_newuserdatauv(L, sizeof(*h), 0);
	int err;

	h->fd = -1;
	h->btf = NULL;
	h->id = (__u32)id;
	luaL_setmetatable(L, BPFMAP_BTF);
	bpfmap_log_clear();
	/* the descriptor first: it pins the id the load below then reads */
	h->fd = bpf_btf_get_fd_by_id((__u32)id);
	if (h->fd < 0) {
		h->fd = -1;
		return bpfmap_fail_cap(L, errno, BPFMAP_NEED_ADMIN, "Btf.from_id %I", id);
	}
	h->btf = btf__load_from_kernel_by_id((__u32)id);
	if (!h->btf) {
		err = errno ? errno : EINVAL;
		release(h);
		return bpfmap_fail(L, err, "Btf.from_id %I", id);
	}
	return 1;
}

static int btf_fd(lua_State *L)
{
	lua_pushinteger(L, to_btf(L)->fd);
	return 1;
}

static int btf_id(lua_State *L)
{
	lua_pushinteger(L, to_btf(L)->id);
	return 1;
}

/* btf:find(name [, kind]): the type id, or nil.  kind is "struct", "union",
 * "datasec", "typedef", "int", "enum", "var" (default: any). */
static int btf_find(lua_State *L)
{
	static const char *const kinds[] = { "any", "int", "struct", "union", "enum",
	                                     "typedef", "var", "datasec", NULL };
	static const int kind_ids[] = { -1, BTF_KIND_INT, BTF_KIND_STRUCT, BTF_KIND_UNION,
	                                BTF_KIND_ENUM, BTF_KIND_TYPEDEF, BTF_KIND_VAR,
	                                BTF_KIND_DATASEC };
	struct btf_handle *h = to_btf(L);
	const char *name = bpfmap_check_path_arg(L, 2, "name");
	int kind = kind_ids[bpfmap_check_option(L, 3, "any", kinds)];
	__s32 id = kind < 0 ? btf__find_by_name(h->btf, name)
	                    : btf__find_by_name_kind(h->btf, name, (__u32)kind);

	if (id < 0)
		lua_pushnil(L);
	else
		lua_pushinteger(L, id);
	return 1;
}

/* btf:type_name(id): a printable name for a type id */
static int btf_type_name(lua_State *L)
{
	struct btf_handle *h = to_btf(L);
	lua_Integer id = bpfmap_check_range(L, 2, "type id", 0, UINT32_MAX);
	char buf[128];

	if (id >= btf__type_cnt(h->btf))
		return bpfmap_arg_error(L, 2, "type id %I is not in BTF id %d", id, (int)h->id);
	bpfmap_btf_type_str(h->btf, (__u32)id, buf, sizeof(buf));
	lua_pushstring(L, buf);
	return 1;
}

static int btf_close(lua_State *L)
{
	release(luaL_checkudata(L, 1, BPFMAP_BTF));
	lua_pushboolean(L, 1);
	return 1;
}

static int btf_tostring(lua_State *L)
{
	struct btf_handle *h = luaL_checkudata(L, 1, BPFMAP_BTF);

	if (h->fd < 0)
		lua_pushliteral(L, "Btf (closed)");
	else
		lua_pushfstring(L, "Btf %d (%d types)", (int)h->id, (int)btf__type_cnt(h->btf) - 1);
	return 1;
}

static const luaL_Reg methods[] = {
	{ "fd", btf_fd },
	{ "id", btf_id },
	{ "find", btf_find },
	{ "type_name", btf_type_name },
	{ "close", btf_close },
	{ NULL, NULL },
};

int bpfmap_btf_open(lua_State *L)
{
	bpfmap_new_type(L, BPFMAP_BTF, methods, btf_close, btf_tostring);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, btf_from_id);
	lua_setfield(L, -2, "from_id");
	lua_setfield(L, -2, "Btf");
	return 0;
}
