/*
 * bpfmap.core: the C half of bpfmap.  It gathers each concept's functions
 * into one table; the Lua half (lua/bpfmap/init.lua) adds the retry loop and
 * documentation-level conveniences on top.
 */
#include "bpfmap.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static const struct { const char *name; int value; } errnos[] = {
	{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "ESRCH", ESRCH },
	{ "EINTR", EINTR }, { "EIO", EIO }, { "EBADF", EBADF },
	{ "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES },
	{ "EFAULT", EFAULT }, { "EBUSY", EBUSY }, { "EEXIST", EEXIST },
	{ "ENOTDIR", ENOTDIR }, { "EISDIR", EISDIR }, { "EINVAL", EINVAL },
	{ "ENFILE", ENFILE }, { "EMFILE", EMFILE }, { "ENOSPC", ENOSPC },
	{ "E2BIG", E2BIG }, { "ERANGE", ERANGE }, { "ENAMETOOLONG", ENAMETOOLONG },
	{ "ENOSYS", ENOSYS }, { "ENODATA", ENODATA }, { "ENOTUNIQ", ENOTUNIQ },
	{ "EOPNOTSUPP", EOPNOTSUPP }, { "ENOTSUP", ENOTSUP }, { "ETIMEDOUT", ETIMEDOUT },
	{ "ECANCELED", ECANCELED }, { "ECHILD", ECHILD }, { "ENOEXEC", ENOEXEC },
	{ "ENOTSUPP", 524 /* kernel-internal, leaks out of some bpf() paths */ },
};

static void push_errno_table(lua_State *L)
{
	size_t i;

	lua_createtable(L, 0, (int)(sizeof(errnos) / sizeof(errnos[0])));
	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		lua_pushinteger(L, errnos[i].value);
		lua_setfield(L, -2, errnos[i].name);
	}
}

/* core.monotonic(): seconds on CLOCK_MONOTONIC, for deadlines */
static int monotonic(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

/* core.sleep(seconds): returns early on a signal, so the Lua caller's loop
 * (and a REPL's Ctrl-C) gets control back. */
static int sleep_for(lua_State *L)
{
	lua_Number s = luaL_checknumber(L, 1);
	struct timespec ts;

	luaL_argcheck(L, s >= 0 && s < 1e9, 1, "seconds must be in 0..1e9");
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	return 0;
}

int luaopen_bpfmap_core(lua_State *L)
{
	bpfmap_log_install();
	lua_newtable(L);
	push_errno_table(L);
	lua_setfield(L, -2, "errno");
	bpfmap_mapinfo_open(L);
	bpfmap_mapdata_open(L);
	bpfmap_elements_open(L);
	bpfmap_batch_open(L);
	bpfmap_typed_open(L);
	bpfmap_dump_open(L);
	lua_setfield(L, -2, "MapData");
	bpfmap_mapwrite_open(L);
	bpfmap_discover_open(L);
	bpfmap_log_open(L);
	bpfmap_btf_cache_open(L);
	bpfmap_btf_open(L);
	bpfmap_object_open(L);
	bpfmap_process_open(L);
	lua_pushcfunction(L, monotonic);
	lua_setfield(L, -2, "monotonic");
	lua_pushcfunction(L, sleep_for);
	lua_setfield(L, -2, "sleep");
	return 1;
}
