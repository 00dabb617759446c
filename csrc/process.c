/*
 * process.c Signal and child processes for scenarios.
 * (Stub: filled in by its issue's work.)
 */
#include "bpfmap.h"

int bpfmap_process_open(lua_State *L)
{
	(void)L;
	return 0;
}
