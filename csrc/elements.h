/*
 * Element helpers shared by elements.c (one element at a time) and batch.c
 * (many per syscall), so that both check keys and values, lay out per-CPU
 * values and word their failures the same way.
 */
#ifndef BPFMAP_ELEMENTS_H
#define BPFMAP_ELEMENTS_H

#include "bpfmap.h"

/* update's flag names ("any", "noexist", "exist", "lock", NULL) and bits. */
extern const char *const bpfmap_update_flag_names[];
extern const __u64 bpfmap_update_flag_values[];

/* Whether values are per CPU: one copy per possible CPU, each rounded up
 * to 8 bytes. */
bool bpfmap_type_is_percpu(__u32 type);
bool bpfmap_is_percpu(const struct mapdata *md);

/* The MapData at 1, open, of a keyed type (not queue/stack/bloom_filter);
 * raises naming op otherwise. */
struct mapdata *bpfmap_check_keyed(lua_State *L, const char *op);

/*
 * The string at stack index idx, of exactly want bytes; otherwise raise a
 * bad argument #arg naming it `what`, or `what[index]` when index > 0
 * (an entry of a list argument).
 */
const char *bpfmap_check_bytes(lua_State *L, int arg, int idx, const char *what, lua_Integer index,
                               size_t want);

/* Bytes one value takes in an array map's storage (its mmap) and in a
 * per-CPU buffer: value_size rounded up to 8, as the kernel lays them out. */
size_t bpfmap_value_stride(const struct mapdata *md);

/*
 * How many values a lookup gives (1, or the possible CPUs of a per-CPU
 * map) and the bytes of the buffer one value needs; 0 or a negative errno.
 */
int bpfmap_value_layout(const struct mapdata *md, int *ncpus, size_t *size);

/* Push the value in buf: a string, or a list of ncpus strings. */
void bpfmap_push_value(lua_State *L, const struct mapdata *md, const char *buf, int ncpus);

/*
 * Fill dst (the kernel's per-CPU layout, round_up(value_size, 8) * ncpus
 * bytes) from the list of exactly ncpus strings at stack index idx, raising
 * a bad argument #arg that names it `what` / `what[index]` as
 * bpfmap_check_bytes does.
 */
void bpfmap_pack_percpu(lua_State *L, const struct mapdata *md, int arg, int idx, const char *what,
                        lua_Integer index, int ncpus, char *dst);

/*
 * A walk over a map's entries with get_next_key and lookup, shared by pairs,
 * the element-by-element fallback of lookup_batch and dump, so that all
 * three step over what changes under them alike.  A key that vanishes
 * between the two calls is skipped by asking again for the key after the
 * same previous one: a hash map asked for the key after one it no longer
 * has would start again from its first.  When it answers the same key
 * again, that key is an empty slot (of a devmap, a prog_array, ...) that
 * get_next_key lists and lookup never finds: the walk steps past it, or it
 * would ask forever.  No Lua calls: the buffers are the caller's.
 */
struct bpfmap_key_walk {
	int fd;
	size_t key_size;
	char *prev, *cur, *gone;   /* key_size bytes each */
	void *value;               /* bpfmap_value_layout's size */
	/* lookup_and_delete: the entries taken are gone, so the walk goes on
	 * from the same previous key (the start, unless it stepped past an
	 * empty slot) */
	bool deleting;
	lua_Integer limit;         /* -1, or how many entries to give at most */
	bool have_prev;            /* false: from the first key; else after prev */
	bool have_gone;            /* gone holds the key lookup last missed */
	lua_Integer taken;         /* entries given so far */
	enum bpfmap_walk_step { BPFMAP_WALK_NEXT_KEY, BPFMAP_WALK_LOOKUP } failed;
};

enum { BPFMAP_WALK_ENTRY, BPFMAP_WALK_END, BPFMAP_WALK_MORE };

/*
 * The next entry: BPFMAP_WALK_ENTRY with its key in cur and its value in
 * value (and, unless deleting, cur copied to prev); BPFMAP_WALK_END when
 * get_next_key says there is none; BPFMAP_WALK_MORE when limit entries were
 * given and get_next_key has another key; or a negative errno with the call
 * that failed in failed (cur holds the key a failed lookup was of).
 */
int bpfmap_key_walk_next(struct bpfmap_key_walk *w);

#endif
