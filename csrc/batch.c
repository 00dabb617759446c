/*
 * batched element operations on a MapData (lookup_batch, ...).
 * (Stub: filled in by its issue's work.)
 */
#include "bpfmap.h"

int bpfmap_batch_open(lua_State *L)
{
	(void)L;
	return 0;
}
