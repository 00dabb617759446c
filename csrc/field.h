/*
 * One integer field of a map's value, as BTF resolution found it
 * (struct bpfmap_leaf): its range, and how it is loaded and stored.  Shared
 * by BpfMapWrite (mapwrite.c) and MapData's typed get/set (typed.c), so both
 * make the same range checks and the same stores.
 */
#ifndef BPFMAP_FIELD_H
#define BPFMAP_FIELD_H

#include "bpfmap.h"

/* The values an integer of nbits (1..64) takes: its width and signedness;
 * 64 bits take every Lua integer (two's complement), a bool 0 and 1, an
 * enum both its signed and its unsigned values.  Shared with typed.c's
 * writes of bitfields, so both refuse the same values. */
void bpfmap_int_range(__u32 nbits, bool is_signed, enum bpfmap_leaf_kind kind,
                      lua_Integer *lo, lua_Integer *hi);
/* bpfmap_int_range of the field's width. */
void bpfmap_leaf_range(const struct bpfmap_leaf *l, lua_Integer *lo, lua_Integer *hi);
/* Whether one store of the field's width can write it. */
bool bpfmap_leaf_aligned(const struct bpfmap_leaf *l);
/* One relaxed load / store of the field's width at base + l->offset where
 * aligned (the program may use the field concurrently); bytes otherwise. */
lua_Integer bpfmap_load_field(const unsigned char *base, const struct bpfmap_leaf *l);
void bpfmap_store_field(unsigned char *base, const struct bpfmap_leaf *l, lua_Integer v);
/* v as the field reads it back once stored (u64 wraps, s8 sign-extends). */
lua_Integer bpfmap_as_stored(const struct bpfmap_leaf *l, lua_Integer v);

/* How a store into one element of a map will be made. */
struct bpfmap_field_store {
	bool via_mmap;   /* one store through md->mem; else read-modify-write */
	bool atomic;     /* via_mmap and naturally aligned */
};

/*
 * The checks every store of v into field l of the element at byte elem_off
 * of md's mapping makes before anything is written: v in the field's range
 * (ERANGE), a writable descriptor (EPERM), a map not frozen (EPERM); then
 * the method: through the mapping where md is mmapable and the element lies
 * in it, else a read-modify-write, which want_atomic refuses (ENOTSUP), as
 * it does an unaligned field.  0, or an errno with the reason in why.
 *
 * Whether a map without a mapping is frozen costs a read of its fdinfo (an
 * open, a read and a close): a caller whose only store is one update, which
 * the kernel refuses for a frozen map, passes check_frozen false and asks
 * bpfmap_map_frozen only when the update fails with EPERM.
 */
int bpfmap_field_prepare(struct mapdata *md, const struct bpfmap_leaf *l, lua_Integer v,
                         size_t elem_off, bool want_atomic, bool check_frozen,
                         struct bpfmap_field_store *st, char *why, size_t whylen);

/*
 * Push nil, "<what>: map 'name' (id N) field '<path>' (<type> at offset O):
 * <why>[: <strerror>]; nothing written", err and return 3: the refusal of a
 * store into field l, worded alike by BpfMapWrite and typed set.  The
 * system's words are left out for ERANGE, EPERM and ENOTSUP, whose why from
 * bpfmap_field_prepare already says it all.
 */
int bpfmap_fail_field(lua_State *L, const char *what, const struct mapdata *md, const char *path,
                      const struct bpfmap_leaf *l, int err, const char *why);

/* Whether the map is frozen (read-only from user space), from its fdinfo;
 * when it is, the reason the checks give, in why. */
bool bpfmap_map_frozen(struct mapdata *md, char *why, size_t whylen);

/*
 * The BTF btf_id from btf_cache.c's per-Lua-state cache (loaded on a miss
 * and pinned by a descriptor), with an anchor pushed that keeps it alive
 * while the anchor is on the stack, even if the cache evicts it meanwhile;
 * or NULL with nothing pushed and a negative errno in *err.
 */
const struct btf *bpfmap_btf_get(lua_State *L, __u32 btf_id, int *err);

#endif
