/*
 * BTF-typed values of a MapData: get, set, read, write.
 * (Stub: filled in by its issue's work.)
 */
#include "bpfmap.h"

int bpfmap_typed_open(lua_State *L)
{
	(void)L;
	return 0;
}
