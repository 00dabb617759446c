/*
 * object.c Object, Program, Link: BPF objects loaded from Lua.
 * (Stub: filled in by its issue's work.)
 */
#include "bpfmap.h"

int bpfmap_object_open(lua_State *L)
{
	(void)L;
	return 0;
}
