/*
 * MapInfo: a snapshot of the kernel's bpf_map_info for one map, plus the
 * facts only /proc/self/fdinfo tells (frozen, memlock).  It reads as fields
 * (info.id, info.type, ...), iterates with pairs() and prints like
 * `bpftool map show`, so a REPL shows something useful.
 */
#include "bpfmap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct mapinfo {
	struct bpf_map_info info;
	int frozen;              /* 1, 0, or -1 when unknown */
	long long memlock;       /* bytes, or -1 when unknown */
};

static const char *const fields[] = {
	"id", "name", "type", "type_id", "key_size", "value_size", "max_entries",
	"flags", "flag_names", "map_extra", "btf_id", "btf_key_type_id",
	"btf_value_type_id", "btf_vmlinux_value_type_id", "ifindex", "frozen",
	"memlock", NULL,
};

/* Map flag names, by bit.  The kernel headers of Debian 12 stop at bit 12;
 * the later ones are spelled out so newer kernels' flags still read. */
const char *const bpfmap_flag_names[] = {
	"no_prealloc", "no_common_lru", "numa_node", "rdonly", "wronly",
	"stack_build_id", "zero_seed", "rdonly_prog", "wronly_prog", "clone",
	"mmapable", "preserve_elems", "inner_map", "link", "path_fd",
	"vtype_btf_obj_fd", "token_fd", "segv_on_fault", "no_user_conv",
};
const size_t bpfmap_nflags = sizeof(bpfmap_flag_names) / sizeof(bpfmap_flag_names[0]);

int bpfmap_read_fdinfo(int fd, int *frozen, long long *memlock)
{
	char path[64], line[128];
	FILE *f;

	*frozen = -1;
	*memlock = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "frozen: %d", frozen);
		sscanf(line, "memlock: %lld", memlock);
	}
	fclose(f);
	return 0;
}

void bpfmap_push_mapinfo(lua_State *L, const struct bpf_map_info *info, int fd)
{
	struct mapinfo *mi = lua_newuserdatauv(L, sizeof(*mi), 0);

	mi->info = *info;
	mi->frozen = -1;
	mi->memlock = -1;
	if (fd >= 0)
		bpfmap_read_fdinfo(fd, &mi->frozen, &mi->memlock);
	luaL_setmetatable(L, BPFMAP_MAPINFO);
}

static void push_type_name(lua_State *L, __u32 type)
{
	const char *name = bpfmap_map_type_name(type);

	if (name)
		lua_pushstring(L, name);
	else
		lua_pushfstring(L, "type %d", (int)type);
}

static void push_flag_names(lua_State *L, __u32 flags)
{
	size_t bit;
	int n = 0;

	lua_createtable(L, 4, 0);
	for (bit = 0; bit < 32; bit++) {
		if (!(flags & (1u << bit)))
			continue;
		if (bit < bpfmap_nflags)
			lua_pushstring(L, bpfmap_flag_names[bit]);
		else
			lua_pushfstring(L, "bit%d", (int)bit);
		lua_rawseti(L, -2, ++n);
	}
}

/* Push one field's value; returns 0 if the name is not a field. */
static int push_field(lua_State *L, const struct mapinfo *mi, const char *k)
{
	const struct bpf_map_info *i = &mi->info;

	if (!strcmp(k, "id")) lua_pushinteger(L, i->id);
	else if (!strcmp(k, "name")) lua_pushstring(L, i->name);
	else if (!strcmp(k, "type")) push_type_name(L, i->type);
	else if (!strcmp(k, "type_id")) lua_pushinteger(L, i->type);
	else if (!strcmp(k, "key_size")) lua_pushinteger(L, i->key_size);
	else if (!strcmp(k, "value_size")) lua_pushinteger(L, i->value_size);
	else if (!strcmp(k, "max_entries")) lua_pushinteger(L, i->max_entries);
	else if (!strcmp(k, "flags")) lua_pushinteger(L, i->map_flags);
	else if (!strcmp(k, "flag_names")) push_flag_names(L, i->map_flags);
	else if (!strcmp(k, "map_extra")) lua_pushinteger(L, (lua_Integer)i->map_extra);
	else if (!strcmp(k, "btf_id")) lua_pushinteger(L, i->btf_id);
	else if (!strcmp(k, "btf_key_type_id")) lua_pushinteger(L, i->btf_key_type_id);
	else if (!strcmp(k, "btf_value_type_id")) lua_pushinteger(L, i->btf_value_type_id);
	else if (!strcmp(k, "btf_vmlinux_value_type_id")) lua_pushinteger(L, i->btf_vmlinux_value_type_id);
	else if (!strcmp(k, "ifindex")) lua_pushinteger(L, i->ifindex);
	else if (!strcmp(k, "frozen")) {
		if (mi->frozen < 0) lua_pushnil(L); else lua_pushboolean(L, mi->frozen);
	} else if (!strcmp(k, "memlock")) {
		if (mi->memlock < 0) lua_pushnil(L); else lua_pushinteger(L, mi->memlock);
	} else
		return 0;
	return 1;
}

static int mi_index(lua_State *L)
{
	const struct mapinfo *mi = luaL_checkudata(L, 1, BPFMAP_MAPINFO);
	int i;

	for (i = 0; fields[i]; i++)
		if (bpfmap_is_string(L, 2, fields[i]))
			return push_field(L, mi, fields[i]);
	return luaL_error(L, "MapInfo has no field '%s'", bpfmap_show(L, 2));
}

/* pairs(info): the fields in a fixed, documented order */
static int mi_next(lua_State *L)
{
	const struct mapinfo *mi = luaL_checkudata(L, 1, BPFMAP_MAPINFO);
	int i = 0;

	if (!lua_isnil(L, 2)) {
		const char *k = luaL_checkstring(L, 2);

		while (fields[i] && strcmp(fields[i], k))
			i++;
		if (fields[i])
			i++;
	}
	for (; fields[i]; i++) {
		lua_pushstring(L, fields[i]);
		push_field(L, mi, fields[i]);
		if (!lua_isnil(L, -1))
			return 2;
		lua_pop(L, 2);
	}
	return 0;
}

static int mi_pairs(lua_State *L)
{
	luaL_checkudata(L, 1, BPFMAP_MAPINFO);
	lua_pushcfunction(L, mi_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

void bpfmap_mapinfo_summary(luaL_Buffer *b, const struct bpf_map_info *i, int frozen)
{
	lua_State *L = b->L;
	const char *type = bpfmap_map_type_name(i->type);

	lua_pushfstring(L, "%d: ", (int)i->id);
	luaL_addvalue(b);
	if (type)
		luaL_addstring(b, type);
	else {
		lua_pushfstring(L, "type %d", (int)i->type);
		luaL_addvalue(b);
	}
	if (i->name[0]) {
		luaL_addstring(b, "  name ");
		luaL_addstring(b, i->name);
	}
	{
		char buf[96];

		snprintf(buf, sizeof(buf), "  flags 0x%x  key %uB  value %uB  max_entries %u",
		         i->map_flags, i->key_size, i->value_size, i->max_entries);
		luaL_addstring(b, buf);
	}
	if (i->btf_id) {
		lua_pushfstring(L, "  btf_id %d", (int)i->btf_id);
		luaL_addvalue(b);
	}
	if (frozen == 1)
		luaL_addstring(b, "  frozen");
}

static int mi_tostring(lua_State *L)
{
	const struct mapinfo *mi = luaL_checkudata(L, 1, BPFMAP_MAPINFO);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	bpfmap_mapinfo_summary(&b, &mi->info, mi->frozen);
	luaL_pushresult(&b);
	return 1;
}

static const luaL_Reg mi_meta[] = {
	{ "__index", mi_index },
	{ "__pairs", mi_pairs },
	{ "__tostring", mi_tostring },
	{ NULL, NULL },
};

int bpfmap_mapinfo_open(lua_State *L)
{
	luaL_newmetatable(L, BPFMAP_MAPINFO);
	luaL_setfuncs(L, mi_meta, 0);
	lua_pop(L, 1);
	return 0;
}
