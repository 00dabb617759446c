/*
 * The error convention, after liolib: a caller's mistake raises (through
 * luaL_argerror, before any syscall); what the kernel or the environment
 * refuses returns nil, message, errno, the message naming the operation and
 * its object, the system's words, and anything libbpf printed meanwhile.
 */
#include "bpfmap.h"
#include "names.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

int bpfmap_fail_msg(lua_State *L, int err, const char *msg)
{
	lua_pushnil(L);
	lua_pushstring(L, msg);
	lua_pushinteger(L, err);
	return 3;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return true;  /* cannot tell: claim nothing */
	return (data[cap / 32].effective >> (cap % 32)) & 1;
}

/* Which capability a refused operation needed and the process lacks, so
 * that "Operation not permitted" says what to grant. */
static const char *missing_cap(enum bpfmap_need need)
{
	switch (need) {
	case BPFMAP_NEED_BPF:
		if (!have_cap(CAP_BPF) && !have_cap(CAP_SYS_ADMIN))
			return "the process has neither CAP_BPF nor CAP_SYS_ADMIN";
		return NULL;
	case BPFMAP_NEED_ADMIN:
		if (!have_cap(CAP_SYS_ADMIN))
			return "needs CAP_SYS_ADMIN, which the process lacks";
		return NULL;
	default:
		return NULL;
	}
}

int bpfmap_fail_cap(lua_State *L, int err, enum bpfmap_need need, const char *fmt, ...)
{
	const char *said = bpfmap_log_text();
	const char *cap = err == EPERM ? missing_cap(need) : NULL;
	luaL_Buffer b;
	va_list ap;

	luaL_buffinit(L, &b);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	luaL_addvalue(&b);
	luaL_addstring(&b, ": ");
	luaL_addstring(&b, strerror(err));
	if (cap) {
		luaL_addstring(&b, " (");
		luaL_addstring(&b, cap);
		luaL_addchar(&b, ')');
	}
	if (*said) {
		luaL_addstring(&b, " (libbpf: ");
		luaL_addstring(&b, said);
		luaL_addchar(&b, ')');
	}
	luaL_pushresult(&b);
	bpfmap_log_clear();
	lua_pushnil(L);
	lua_insert(L, -2);
	lua_pushinteger(L, err);
	return 3;
}

int bpfmap_arg_error(lua_State *L, int arg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return luaL_argerror(L, arg, lua_tostring(L, -1));
}

lua_Integer bpfmap_check_range(lua_State *L, int arg, const char *what,
                               lua_Integer lo, lua_Integer hi)
{
	int isnum;
	/* numbers only: a numeric string is a caller's slip, not an integer */
	lua_Integer v = lua_type(L, arg) == LUA_TNUMBER ? lua_tointegerx(L, arg, &isnum) : (isnum = 0);

	if (!isnum) {
		if (lua_type(L, arg) == LUA_TNUMBER)
			bpfmap_arg_error(L, arg, "%s must be an integer, got %s", what,
			                 lua_tostring(L, arg));
		bpfmap_arg_error(L, arg, "%s must be an integer, got %s", what,
		                 luaL_typename(L, arg));
	}
	if (v < lo || v > hi)
		bpfmap_arg_error(L, arg, "%s must be in %I..%I, got %I", what, lo, hi, v);
	return v;
}

bool bpfmap_opt_field_int(lua_State *L, int tab, const char *key,
                          lua_Integer lo, lua_Integer hi, lua_Integer *out)
{
	int isnum;
	lua_Integer v;

	if (lua_getfield(L, tab, key) == LUA_TNIL) {
		lua_pop(L, 1);
		return false;
	}
	v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isnum) : (isnum = 0);
	if (!isnum)
		bpfmap_arg_error(L, tab, "field '%s' must be an integer, got %s", key,
		                 lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1)
		                                                : luaL_typename(L, -1));
	if (v < lo || v > hi)
		bpfmap_arg_error(L, tab, "field '%s' must be in %I..%I, got %I", key, lo, hi, v);
	lua_pop(L, 1);
	*out = v;
	return true;
}

void *bpfmap_scratch(lua_State *L, size_t size)
{
	return lua_newuserdatauv(L, size ? size : 1, 0);
}

void *bpfmap_scratch_zeroed(lua_State *L, size_t size)
{
	void *p = bpfmap_scratch(L, size);

	memset(p, 0, size ? size : 1);
	return p;
}

const char *bpfmap_opt_field_string(lua_State *L, int tab, const char *key, size_t *len)
{
	const char *s = NULL;
	size_t n = 0;

	switch (lua_getfield(L, tab, key)) {
	case LUA_TNIL:
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, -1, &n);
		if (!len && strlen(s) != n)
			bpfmap_arg_error(L, tab, "field '%s' contains a NUL byte", key);
		break;
	default:
		bpfmap_arg_error(L, tab, "field '%s' must be a string, got %s", key,
		                 luaL_typename(L, -1));
	}
	if (len)
		*len = n;
	return s;
}

const char *bpfmap_check_path_arg(lua_State *L, int arg, const char *what)
{
	size_t len;
	const char *s;
	char msg[128];

	if (lua_type(L, arg) != LUA_TSTRING)
		bpfmap_arg_error(L, arg, "%s must be a string, got %s", what, luaL_typename(L, arg));
	s = lua_tolstring(L, arg, &len);
	if (bpfmap_check_path(what, s, len, msg, sizeof(msg)))
		luaL_argerror(L, arg, msg);
	return s;
}

void bpfmap_register_type(lua_State *L, const void *key)
{
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void *bpfmap_test_type(lua_State *L, int idx, const void *key)
{
	void *p = lua_touserdata(L, idx);
	int same;

	if (!p || !lua_getmetatable(L, idx))
		return NULL;
	lua_rawgetp(L, LUA_REGISTRYINDEX, key);
	same = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return same ? p : NULL;
}

bool bpfmap_is_string(lua_State *L, int idx, const char *s)
{
	size_t len;
	const char *v = lua_tolstring(L, idx, &len);

	/* by length: a Lua string's embedded NUL must not end the comparison */
	return v && len == strlen(s) && memcmp(v, s, len) == 0;
}

const char *bpfmap_show(lua_State *L, int idx)
{
	size_t len, i;
	const char *s;
	luaL_Buffer b;

	if (lua_type(L, idx) != LUA_TSTRING)
		return luaL_tolstring(L, idx, NULL);
	/* a name shown in a message must not stop at an embedded NUL, or a
	 * refused "array\0x" would read as the valid "array"; other control
	 * bytes are escaped too, UTF-8 passes as it is */
	s = lua_tolstring(L, idx, &len);
	luaL_buffinit(L, &b);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != 0x7f) {
			luaL_addchar(&b, (char)c);
		} else {
			char esc[8];

			snprintf(esc, sizeof(esc), "\\x%02x", c);
			luaL_addstring(&b, esc);
		}
	}
	luaL_pushresult(&b);
	return lua_tostring(L, -1);
}

int bpfmap_check_option(lua_State *L, int arg, const char *def, const char *const list[])
{
	int i;

	if (def && lua_isnoneornil(L, arg)) {
		for (i = 0; list[i]; i++)
			if (!strcmp(list[i], def))
				return i;
	}
	/* the same words as luaL_checkoption, which takes numbers as strings */
	if (lua_type(L, arg) != LUA_TSTRING && lua_type(L, arg) != LUA_TNUMBER)
		return luaL_typeerror(L, arg, "string");
	for (i = 0; list[i]; i++)
		if (bpfmap_is_string(L, arg, list[i]))
			return i;
	return bpfmap_arg_error(L, arg, "invalid option '%s'", bpfmap_show(L, arg));
}

static int key_index(lua_State *L, int arg, int key, const char *const names[], const char *noun)
{
	int i;

	if (lua_type(L, key) == LUA_TSTRING)
		for (i = 0; names[i]; i++)
			if (bpfmap_is_string(L, key, names[i]))
				return i;
	return bpfmap_arg_error(L, arg, "unknown %s '%s'", noun, bpfmap_show(L, key));
}

int bpfmap_opt_index(lua_State *L, int arg, int key, const char *const names[])
{
	return key_index(L, arg, key, names, "option");
}

void bpfmap_check_keys(lua_State *L, int arg, const char *const names[], const char *noun)
{
	lua_pushnil(L);
	while (lua_next(L, arg)) {
		lua_pop(L, 1);
		key_index(L, arg, -1, names, noun);
	}
}

bool bpfmap_check_opt_keys(lua_State *L, int arg, const char *const names[])
{
	if (lua_isnoneornil(L, arg))
		return false;
	luaL_checktype(L, arg, LUA_TTABLE);
	bpfmap_check_keys(L, arg, names, "option");
	return true;
}

void bpfmap_check_list(lua_State *L, int arg, int idx, const char *what)
{
	size_t n = lua_rawlen(L, idx);

	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
		    (lua_Unsigned)lua_tointeger(L, -1) > n)
			bpfmap_arg_error(L, arg, "%s, not a table keyed by %s", what,
			                 bpfmap_show(L, -1));
	}
}

void bpfmap_new_type(lua_State *L, const char *name, const luaL_Reg *methods,
                     lua_CFunction close_fn, lua_CFunction tostring_fn)
{
	luaL_newmetatable(L, name);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_setfield(L, -2, "__index");
	if (close_fn) {
		lua_pushcfunction(L, close_fn);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, close_fn);
		lua_setfield(L, -2, "__close");
	}
	lua_pushcfunction(L, tostring_fn);
	lua_setfield(L, -2, "__tostring");
	lua_pop(L, 1);
}
