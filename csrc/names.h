/*
 * Name validation for bpfmap: pure C, no Lua, so it can be fuzzed and
 * unit-tested alone.
 *
 * Each checker returns 0 when the name is acceptable, or -EINVAL after
 * writing into msg (always NUL-terminated) the argument's name and the rule
 * broken, e.g. "map_name_suffix must start with '.'".
 */
#ifndef BPFMAP_NAMES_H
#define BPFMAP_NAMES_H

#include <stddef.h>

/* Kernel object names (maps, programs) hold at most 15 bytes plus NUL. */
#define BPFMAP_OBJ_NAME_MAX 15

/* A BpfMapWrite's map-name suffix, checked in ktstr's order. */
int bpfmap_check_suffix(const char *s, size_t len, char *msg, size_t msglen);

/* A BpfMapWrite's field path ("crash", "stats.limit", "slots[2].x"). */
int bpfmap_check_field(const char *s, size_t len, char *msg, size_t msglen);

/* A name for a new map, as the kernel's bpf_obj_name_cpy() accepts it. */
int bpfmap_check_map_name(const char *argname, const char *s, size_t len,
                          char *msg, size_t msglen);

/* A filesystem path handed to the kernel: non-empty, no embedded NUL. */
int bpfmap_check_path(const char *argname, const char *s, size_t len,
                      char *msg, size_t msglen);

#endif
