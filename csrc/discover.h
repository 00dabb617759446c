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
 * The resources of one walk (the descriptor being handed to a callback, the
 * buffers of map ids and names), owned by a userdata on the Lua stack whose
 * __gc releases them: a callback that raises (an allocation failing, a
 * finaliser erroring) leaks nothing.  Push it before whatever the callbacks
 * keep on top of the stack (a luaL_Buffer, a list being filled), use it for
 * one walk at a time, and drop it after: a finished walk holds nothing.
 */
struct bpfmap_walk;
struct bpfmap_walk *bpfmap_push_walk(lua_State *L);

/*
 * Called with an open, close-on-exec map descriptor in *fd and the map's
 * info.  *fd still belongs to the walk, which closes it when fn returns (or,
 * if fn raises, when the walk is collected) unless fn takes it by setting
 * *fd to -1 once something else owns it.  Return 0 to go on, 1 to stop, or
 * a negative errno to stop with that error.
 */
typedef int (*bpfmap_map_fn)(int *fd, const struct bpf_map_info *info, void *ctx);

/* Called with a program's info and the ids of the maps it uses. */
typedef int (*bpfmap_prog_fn)(const struct bpf_prog_info *info, const __u32 *map_ids,
                              __u32 n_map_ids, void *ctx);

/* 0 at the end of the walk, or a negative errno. */
int bpfmap_walk_maps(struct bpfmap_walk *w, bpfmap_map_fn fn, void *ctx);
int bpfmap_walk_progs(struct bpfmap_walk *w, bpfmap_prog_fn fn, void *ctx);

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

/*
 * bpfmap_walk_maps, calling fn only for maps the filter wants, and
 * remembering every map's name in names for the next walk.  The walk takes
 * names' list for itself while it runs, so a walk nested in it (by a
 * finaliser) finds none and cannot free it; the last walk to end leaves its
 * list there.
 */
int bpfmap_walk_maps_filtered(struct bpfmap_walk *w, struct bpfmap_map_names *names,
                              bpfmap_map_filter want, bpfmap_map_fn fn, void *ctx);

#endif
