/*
 * Walks over the kernel's loaded maps and programs, without Lua, shared by
 * the Lua listing functions and by BpfMapWrite's candidate search.
 */
#ifndef BPFMAP_DISCOVER_H
#define BPFMAP_DISCOVER_H

#include <linux/bpf.h>

/*
 * Called with an open, close-on-exec map descriptor that the callback now
 * owns, and the map's info.  Return 0 to go on, 1 to stop, or a negative
 * errno to stop with that error.
 */
typedef int (*bpfmap_map_fn)(int fd, const struct bpf_map_info *info, void *ctx);

/* Called with a program's info and the ids of the maps it uses. */
typedef int (*bpfmap_prog_fn)(const struct bpf_prog_info *info, const __u32 *map_ids,
                              __u32 n_map_ids, void *ctx);

/* 0 at the end of the walk, or a negative errno. */
int bpfmap_walk_maps(bpfmap_map_fn fn, void *ctx);
int bpfmap_walk_progs(bpfmap_prog_fn fn, void *ctx);

#endif
