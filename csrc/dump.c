/*
 * BTF-formatted text of a map's entries (MapData:dump).
 * (Stub: filled in by its issue's work.)
 */
#include "bpfmap.h"

int bpfmap_dump_open(lua_State *L)
{
	(void)L;
	return 0;
}
