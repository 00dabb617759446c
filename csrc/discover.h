/*
 * Walks over the kernel's loaded maps and programs, without Lua, shared by
 * the Lua listing functions and by BpfMapWrite's candidate search.
 */
#ifndef BPFMAP_DISCOVER_H
#define BPFMAP_DISCOVER_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <lua.h>

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

/*
 * The names of the maps the last filtered walk saw, by ascending id.  A
 * map's name never changes, and the kernel hands out map ids cyclically (an
 * id is not reused before 2^31 more maps), so a later walk can reject a map
 * by its remembered name with one syscall (next id) instead of four (next
 * id, open, info, close).  One per Lua state: bpfmap_map_names(L).
 */
struct bpfmap_map_name {
	__u32 id;
	char name[BPF_OBJ_NAME_LEN];
};
struct bpfmap_map_names {
	struct bpfmap_map_name *e;
	__u32 n;
};
/* This Lua state's names (allocated on first use; may raise, so call it
 * before any walk). */
struct bpfmap_map_names *bpfmap_map_names(lua_State *L);

/*
 * Whether a map may be wanted, asked before it is opened: name is the
 * remembered name, or NULL when the map is new to the walk (then only id
 * can decide); asked again with the real name once the map is open.
 */
typedef bool (*bpfmap_map_filter)(__u32 id, const char *name, void *ctx);

/* bpfmap_walk_maps, calling fn only for maps the filter wants, and
 * remembering every map's name in names for the next walk. */
int bpfmap_walk_maps_filtered(struct bpfmap_map_names *names, bpfmap_map_filter want,
                              bpfmap_map_fn fn, void *ctx);

#endif
