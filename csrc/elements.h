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

#endif
