/*
 * MapData: one descriptor of one BPF map, the Lua counterpart of aya's
 * MapData (create, from_pin, from_id, from_fd, pin, fd, info).
 *
 * Lifecycle follows liolib: one metatable with __name, __gc and __close
 * sharing one close function, and a closed state (fd == -1) that every
 * method checks before touching the descriptor, because after close() the
 * process may reuse the number for some other map.  The handle also caches
 * what later layers need without a syscall: the map's immutable info and a
 * shared read-write mapping of its value.
 */
#include "bpfmap.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif


const char bpfmap_mapdata_key = 'm';

struct mapdata *bpfmap_test_mapdata(lua_State *L, int idx)
{
	return bpfmap_test_type(L, idx, &bpfmap_mapdata_key);
}

struct mapdata *bpfmap_check_mapdata(lua_State *L, int idx)
{
	/* by pointer first: luaL_checkudata's by-name registry lookup is a
	 * measurable part of an element operation; it still words the error */
	struct mapdata *md = bpfmap_test_type(L, idx, &bpfmap_mapdata_key);

	if (!md)
		md = luaL_checkudata(L, idx, BPFMAP_MAPDATA);

	if (md->fd < 0)
		luaL_error(L, "attempt to use a closed MapData");
	return md;
}

/* A closed MapData, so that a descriptor is only opened once there is a
 * userdata whose __gc will close it (an out-of-memory raise in between
 * would otherwise leak the descriptor). */
struct mapdata *bpfmap_new_mapdata(lua_State *L)
{
	struct mapdata *md = lua_newuserdatauv(L, sizeof(*md), 1);

	memset(md, 0, sizeof(*md));
	md->fd = -1;
	luaL_setmetatable(L, BPFMAP_MAPDATA);
	return md;
}

void bpfmap_mapdata_release(struct mapdata *md)
{
	if (md->mem) {
		munmap(md->mem, md->mem_len);
		md->mem = NULL;
	}
	if (md->fd >= 0) {
		close(md->fd);
		md->fd = -1;
	}
}

/* What kind of anonymous-inode object fd is ("bpf-map", "bpf-prog", ...). */
static int fd_kind(int fd, char *kind, size_t len)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	snprintf(kind, len, "%s", strncmp(target, "anon_inode:", 11) == 0 ? target + 11 : target);
	return 0;
}

static int read_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* Take ownership of md->fd: check it is a map and cache its info.  Leaves
 * the MapData on the stack (1), or closes it and pushes nil, msg, errno. */
int bpfmap_adopt_mapdata(lua_State *L, struct mapdata *md, const char *what)
{
	char kind[64];
	int err = fd_kind(md->fd, kind, sizeof(kind));

	if (!err && strcmp(kind, "bpf-map") != 0) {
		bpfmap_mapdata_release(md);
		lua_pop(L, 1);
		return bpfmap_fail_msg(L, EINVAL,
		                       lua_pushfstring(L, "%s: not a BPF map (it is %s)", what, kind));
	}
	if (!err)
		err = read_info(md->fd, &md->info);
	if (!err) {
		int fl = fcntl(md->fd, F_GETFL);

		if (fl < 0)
			err = -errno;
		else
			md->read_only = (fl & O_ACCMODE) == O_RDONLY;
	}
	if (err) {
		bpfmap_mapdata_release(md);
		lua_pop(L, 1);
		return bpfmap_fail(L, -err, "%s", what);
	}
	return 1;
}

const char *bpfmap_map_type_name(__u32 type)
{
	return libbpf_bpf_map_type_str((enum bpf_map_type)type);
}

static __u32 check_map_type(lua_State *L, int def)
{
	__u32 t;

	switch (lua_getfield(L, def, "type")) {
	case LUA_TSTRING:
		/* libbpf's own table of names, walked until it runs out */
		for (t = 0; t < 256 && bpfmap_map_type_name(t); t++)
			if (t != 0 && bpfmap_is_string(L, -1, bpfmap_map_type_name(t))) {
				lua_pop(L, 1);
				return t;
			}
		bpfmap_arg_error(L, def, "unknown map type '%s'", bpfmap_show(L, -1));
		break;
	case LUA_TNUMBER: {
		lua_Integer v;

		bpfmap_opt_field_int(L, def, "type", 1, UINT32_MAX, &v);
		lua_pop(L, 1);
		return (__u32)v;
	}
	case LUA_TNIL:
		bpfmap_arg_error(L, def, "field 'type' is required");
		break;
	default:
		bpfmap_arg_error(L, def, "field 'type' must be a name or a number, got %s",
		                 luaL_typename(L, -1));
	}
	return 0;
}

static __u32 check_flags(lua_State *L, int def)
{
	__u32 flags = 0;
	lua_Integer v;
	size_t i, j, n;

	switch (lua_getfield(L, def, "flags")) {
	case LUA_TNIL:
		break;
	case LUA_TNUMBER:
		bpfmap_opt_field_int(L, def, "flags", 0, UINT32_MAX, &v);
		flags = (__u32)v;
		break;
	case LUA_TTABLE:
		n = lua_rawlen(L, -1);
		/* { mmapable = true } is a likely slip for { "mmapable" } */
		bpfmap_check_list(L, def, -1, "flags must be a list of flag names");
		for (i = 1; i <= n; i++) {
			if (lua_rawgeti(L, -1, (lua_Integer)i) != LUA_TSTRING)
				bpfmap_arg_error(L, def, "flags[%d] must be a flag name, got %s", (int)i,
				                 luaL_typename(L, -1));
			for (j = 0; j < bpfmap_nflags && !bpfmap_is_string(L, -1, bpfmap_flag_names[j]); j++)
				;
			if (j == bpfmap_nflags)
				bpfmap_arg_error(L, def, "unknown map flag '%s'", bpfmap_show(L, -1));
			flags |= 1u << j;
			lua_pop(L, 1);
		}
		break;
	default:
		bpfmap_arg_error(L, def, "field 'flags' must be a list of names or a number, got %s",
		                 luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	return flags;
}

static int check_fd_field(lua_State *L, int def, const char *key)
{
	struct mapdata *md;
	lua_Integer v = 0;

	lua_getfield(L, def, key);
	md = bpfmap_test_mapdata(L, -1);
	if (md) {
		if (md->fd < 0)
			bpfmap_arg_error(L, def, "field '%s' is a closed MapData", key);
		lua_pop(L, 1);
		return md->fd;
	}
	lua_pop(L, 1);
	bpfmap_opt_field_int(L, def, key, 0, INT_MAX, &v);
	return (int)v;
}

static const char *const def_fields[] = {
	"type", "key_size", "value_size", "max_entries", "flags", "map_extra",
	"btf_key_type_id", "btf_value_type_id", "btf_vmlinux_value_type_id",
	"inner_map_fd", "numa_node", "ifindex", NULL,
};

/* MapData.create(def, name [, btf_fd]) */
static int md_create(lua_State *L)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	struct mapdata *md;
	lua_Integer key_size = 0, value_size = 0, max_entries = 0, v;
	const char *name;
	size_t name_len;
	__u32 type;
	char msg[128], what[64];
	int fd;

	luaL_checktype(L, 1, LUA_TTABLE);
	if (lua_type(L, 2) != LUA_TSTRING)
		bpfmap_arg_error(L, 2, "name must be a string, got %s", luaL_typename(L, 2));
	name = lua_tolstring(L, 2, &name_len);
	if (bpfmap_check_map_name("name", name, name_len, msg, sizeof(msg)))
		luaL_argerror(L, 2, msg);
	if (!lua_isnoneornil(L, 3))
		opts.btf_fd = (__u32)bpfmap_check_range(L, 3, "btf_fd", 0, INT_MAX);
	/* a misspelt field ("valuesize") would otherwise be silently ignored */
	bpfmap_check_keys(L, 1, def_fields, "field");
	type = check_map_type(L, 1);
	bpfmap_opt_field_int(L, 1, "key_size", 0, UINT32_MAX, &key_size);
	bpfmap_opt_field_int(L, 1, "value_size", 0, UINT32_MAX, &value_size);
	if (!bpfmap_opt_field_int(L, 1, "max_entries", 0, UINT32_MAX, &max_entries))
		bpfmap_arg_error(L, 1, "field 'max_entries' is required");
	opts.map_flags = check_flags(L, 1);
	if (bpfmap_opt_field_int(L, 1, "map_extra", 0, LUA_MAXINTEGER, &v))
		opts.map_extra = (__u64)v;
	if (bpfmap_opt_field_int(L, 1, "btf_key_type_id", 0, UINT32_MAX, &v))
		opts.btf_key_type_id = (__u32)v;
	if (bpfmap_opt_field_int(L, 1, "btf_value_type_id", 0, UINT32_MAX, &v))
		opts.btf_value_type_id = (__u32)v;
	if (bpfmap_opt_field_int(L, 1, "btf_vmlinux_value_type_id", 0, UINT32_MAX, &v))
		opts.btf_vmlinux_value_type_id = (__u32)v;
	if (bpfmap_opt_field_int(L, 1, "numa_node", 0, UINT32_MAX, &v))
		opts.numa_node = (__u32)v;
	if (bpfmap_opt_field_int(L, 1, "ifindex", 0, UINT32_MAX, &v))
		opts.map_ifindex = (__u32)v;
	opts.inner_map_fd = (__u32)check_fd_field(L, 1, "inner_map_fd");

	md = bpfmap_new_mapdata(L);
	bpfmap_log_clear();
	fd = bpf_map_create((enum bpf_map_type)type, name_len ? name : NULL, (__u32)key_size,
	                    (__u32)value_size, (__u32)max_entries, &opts);
	if (fd < 0) {
		const char *tname = bpfmap_map_type_name(type);

		lua_pop(L, 1);
		if (tname)
			return bpfmap_fail_cap(L, errno, BPFMAP_NEED_BPF, "create %s map '%s'", tname, name);
		return bpfmap_fail_cap(L, errno, BPFMAP_NEED_BPF, "create map '%s' of type %I", name,
		                       (lua_Integer)type);
	}
	md->fd = fd;
	snprintf(what, sizeof(what), "create map '%s'", name);
	return bpfmap_adopt_mapdata(L, md, what);
}

/* MapData.from_pin(path) */
static int md_from_pin(lua_State *L)
{
	const char *path = bpfmap_check_path_arg(L, 1, "path");
	struct mapdata *md = bpfmap_new_mapdata(L);
	char what[PATH_MAX + 16];

	md->fd = bpf_obj_get(path);
	if (md->fd < 0) {
		int err = errno;

		md->fd = -1;
		lua_pop(L, 1);
		return bpfmap_fail(L, err, "from_pin %s", path);
	}
	snprintf(what, sizeof(what), "from_pin %s", path);
	return bpfmap_adopt_mapdata(L, md, what);
}

/* MapData.from_id(id) */
static int md_from_id(lua_State *L)
{
	lua_Integer id = bpfmap_check_range(L, 1, "id", 0, UINT32_MAX);
	struct mapdata *md = bpfmap_new_mapdata(L);
	char what[48];

	md->fd = bpf_map_get_fd_by_id((__u32)id);
	if (md->fd < 0) {
		int err = errno;

		md->fd = -1;
		lua_pop(L, 1);
		return bpfmap_fail_cap(L, err, BPFMAP_NEED_ADMIN, "from_id %I", id);
	}
	snprintf(what, sizeof(what), "from_id %lld", (long long)id);
	return bpfmap_adopt_mapdata(L, md, what);
}

/* MapData.from_fd(fd): the caller keeps its descriptor; we own a duplicate. */
static int md_from_fd(lua_State *L)
{
	lua_Integer fd = bpfmap_check_range(L, 1, "fd", 0, INT_MAX);
	struct mapdata *md = bpfmap_new_mapdata(L);
	char what[48];

	md->fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
	if (md->fd < 0) {
		int err = errno;

		md->fd = -1;
		lua_pop(L, 1);
		return bpfmap_fail(L, err, "from_fd %I", fd);
	}
	snprintf(what, sizeof(what), "from_fd %lld", (long long)fd);
	return bpfmap_adopt_mapdata(L, md, what);
}

/* m:pin(path) */
static int md_pin(lua_State *L)
{
	struct mapdata *md = bpfmap_check_mapdata(L, 1);
	const char *path = bpfmap_check_path_arg(L, 2, "path");
	char dir[PATH_MAX];
	struct statfs st;
	char *slash;
	int err;

	bpfmap_log_clear();
	if (bpf_obj_pin(md->fd, path) == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	err = errno;
	/* The kernel answers EPERM for a path outside bpffs: say so. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (err == EPERM && statfs(dir, &st) == 0 && st.f_type != BPF_FS_MAGIC)
		return bpfmap_fail(L, err, "pin %s (%s is not on a bpf filesystem)", path, dir);
	return bpfmap_fail(L, err, "pin %s", path);
}

/* m:fd() */
static int md_fd(lua_State *L)
{
	lua_pushinteger(L, bpfmap_check_mapdata(L, 1)->fd);
	return 1;
}

/* m:id(): the kernel's id, known since open, so no syscall */
static int md_id(lua_State *L)
{
	lua_pushinteger(L, bpfmap_check_mapdata(L, 1)->info.id);
	return 1;
}

/* m:info(): a fresh MapInfo from the kernel */
static int md_info(lua_State *L)
{
	struct mapdata *md = bpfmap_check_mapdata(L, 1);
	struct bpf_map_info info;
	int err = read_info(md->fd, &info);

	if (err)
		return bpfmap_fail(L, -err, "info of map id %d", (int)md->info.id);
	bpfmap_push_mapinfo(L, &info, md->fd);
	return 1;
}

static int md_close(lua_State *L)
{
	struct mapdata *md = luaL_checkudata(L, 1, BPFMAP_MAPDATA);

	bpfmap_mapdata_release(md);
	lua_pushboolean(L, 1);
	return 1;
}

static int md_tostring(lua_State *L)
{
	struct mapdata *md = luaL_checkudata(L, 1, BPFMAP_MAPDATA);
	luaL_Buffer b;

	if (md->fd < 0) {
		lua_pushliteral(L, "MapData (closed)");
		return 1;
	}
	luaL_buffinit(L, &b);
	luaL_addstring(&b, "MapData ");
	{
		int frozen;
		long long memlock;

		bpfmap_read_fdinfo(md->fd, &frozen, &memlock);
		bpfmap_mapinfo_summary(&b, &md->info, frozen);
	}
	luaL_pushresult(&b);
	return 1;
}

int bpfmap_mapdata_mmap(struct mapdata *md)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len;
	void *mem;

	if (md->mem)
		return 0;
	if (md->mem_err)
		return -md->mem_err;
	if (!(md->info.map_flags & BPF_F_MMAPABLE) || md->info.type != BPF_MAP_TYPE_ARRAY) {
		md->mem_err = ENOTSUP;
		return -ENOTSUP;
	}
	/*
	 * The page(s) of element 0 only: elements lie one after another from
	 * offset 0, so users (typed.c, field.c) write any element that falls
	 * wholly inside mem_len through the mapping and use syscalls beyond it.
	 */
	len = ((size_t)md->info.value_size + (size_t)page - 1) & ~((size_t)page - 1);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, md->fd, 0);
	if (mem == MAP_FAILED) {
		md->mem_err = errno;
		return -md->mem_err;
	}
	md->mem = mem;
	md->mem_len = len;
	return 0;
}

static const luaL_Reg md_methods[] = {
	{ "pin", md_pin },
	{ "fd", md_fd },
	{ "id", md_id },
	{ "info", md_info },
	{ "close", md_close },
	{ NULL, NULL },
};

static const luaL_Reg md_meta[] = {
	{ "__gc", md_close },
	{ "__close", md_close },
	{ "__tostring", md_tostring },
	{ "__index", NULL },
	{ NULL, NULL },
};

static const luaL_Reg md_ctors[] = {
	{ "create", md_create },
	{ "from_pin", md_from_pin },
	{ "from_id", md_from_id },
	{ "from_fd", md_from_fd },
	{ NULL, NULL },
};

/* Pushes the MapData class table; method table shared with the metatable. */
int bpfmap_mapdata_open(lua_State *L)
{
	luaL_newmetatable(L, BPFMAP_MAPDATA);
	bpfmap_register_type(L, &bpfmap_mapdata_key);
	luaL_setfuncs(L, md_meta, 0);
	luaL_newlib(L, md_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	luaL_newlib(L, md_ctors);
	/* methods reachable from the class too, for documentation and mocking */
	luaL_getmetatable(L, BPFMAP_MAPDATA);
	lua_getfield(L, -1, "__index");
	lua_setfield(L, -3, "methods");
	lua_pop(L, 1);
	return 1;
}
