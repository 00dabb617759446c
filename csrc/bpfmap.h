/*
 * Internal interface between bpfmap's C files.  Each file owns one concept:
 *   core.c     module entry: errno table, constants, submodule wiring
 *   log.c      capture of libbpf's messages
 *   errors.c   the nil, message, errno convention and argument helpers
 *   mapdata.c  MapData: a descriptor of one BPF map, its mmap and BTF
 *   elements.c element operations on a MapData (lookup, update, pairs, ...)
 *   mapinfo.c  MapInfo: a snapshot of bpf_map_info plus fdinfo facts
 *   discover.c walking the kernel's loaded maps and programs
 *   btf.c      Btf: a handle to a kernel BTF object (for MapData.create)
 *   btf_cache.c BTF loaded from the kernel and paths resolved in it
 *   mapwrite.c BpfMapWrite: validated descriptors, resolution, stores
 *   batch.c    batched element operations (lookup_batch, update_batch, ...)
 *   typed.c    BTF-typed values: get, set, read, write
 *   dump.c     BTF-formatted text of entries (dump)
 *   object.c   Object: BPF objects opened, loaded and attached from Lua
 *   program.c  Program and Link: an Object's programs, test runs, attachments
 *   process.c  Signal (write-done) and child processes for scenarios
 *   names.c, btf_path.c: pure C (no Lua) validation and BTF resolution
 */
#ifndef BPFMAP_H
#define BPFMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <lua.h>
#include <lauxlib.h>

#include "btf_path.h"

#define BPFMAP_MAPDATA "bpfmap.MapData"
#define BPFMAP_MAPINFO "bpfmap.MapInfo"
#define BPFMAP_MAPWRITE "bpfmap.BpfMapWrite"

struct btf;

/* ---- log.c ---- */
void bpfmap_log_install(void);
void bpfmap_log_clear(void);
const char *bpfmap_log_text(void);   /* what libbpf said since the last clear */
int bpfmap_log_open(lua_State *L);   /* pushes set_log */

/* ---- errors.c ---- */

/* The privilege an operation needs, named in EPERM messages when missing. */
enum bpfmap_need { BPFMAP_NEED_NOTHING, BPFMAP_NEED_BPF, BPFMAP_NEED_ADMIN };
/* Push nil, "<what>: <strerror(err)>[ (<missing capability>)][ (libbpf:
 * ...)]", err; returns 3.  The capability is named only for EPERM, and only
 * when the process lacks it. */
int bpfmap_fail_cap(lua_State *L, int err, enum bpfmap_need need, const char *fmt, ...);
#define bpfmap_fail(L, err, ...) bpfmap_fail_cap(L, err, BPFMAP_NEED_NOTHING, __VA_ARGS__)
/* Push nil, message, err with the message already formatted; returns 3. */
int bpfmap_fail_msg(lua_State *L, int err, const char *msg);
/* An integer argument in [lo, hi], raising a named argument error. */
lua_Integer bpfmap_check_range(lua_State *L, int arg, const char *what,
                               lua_Integer lo, lua_Integer hi);
/* A field of a table argument: nil (absent) or an integer in [lo, hi]. */
bool bpfmap_opt_field_int(lua_State *L, int tab, const char *key,
                          lua_Integer lo, lua_Integer hi, lua_Integer *out);
/*
 * Scratch memory owned by a userdata pushed on the stack, so that a raise
 * cannot leak it: size bytes (never a zero-byte block), uninitialised, or
 * zero-filled for callers that read back parts they did not write.
 */
void *bpfmap_scratch(lua_State *L, size_t size);
void *bpfmap_scratch_zeroed(lua_State *L, size_t size);
/*
 * A field of a table argument: NULL when absent (nil), else a string, which
 * stays on the stack (an __index metamethod may have made a string nothing
 * else holds).  With len, any bytes, their count in *len (0 when absent);
 * without, a C string, refused if it holds a NUL byte.
 */
const char *bpfmap_opt_field_string(lua_State *L, int tab, const char *key, size_t *len);
/*
 * Register the metatable on top of the stack under a light-userdata key as
 * well, and test a value against it: a pointer-keyed registry lookup is much
 * cheaper than luaL_testudata's by-name one, which matters on warm paths.
 */
void bpfmap_register_type(lua_State *L, const void *key);
void *bpfmap_test_type(lua_State *L, int idx, const void *key);
extern const char bpfmap_mapdata_key, bpfmap_mapwrite_key;
/* Whether the string at idx is exactly s (embedded NULs included). */
bool bpfmap_is_string(lua_State *L, int idx, const char *s);
/* Push and return a printable form of the value at idx for messages:
 * strings with control bytes and NULs escaped, others via __tostring. */
const char *bpfmap_show(lua_State *L, int idx);
/* luaL_checkoption, but comparing by length (no match on a NUL prefix). */
int bpfmap_check_option(lua_State *L, int arg, const char *def, const char *const list[]);
/* Raise "<what>, not a table keyed by K" unless the table at idx has only
 * the keys 1..#t. */
void bpfmap_check_list(lua_State *L, int arg, int idx, const char *what);
/* The index in names (NULL-terminated) of the option key at stack index
 * key, which lua_next left there; raises "unknown option '<key>'" against
 * arg for any other key.  A number key is refused without lua_tolstring,
 * which would turn it into a string in place and derail lua_next. */
int bpfmap_opt_index(lua_State *L, int arg, int key, const char *const names[]);
/* Raise "unknown <noun> '<key>'" against arg for a key of the table at arg
 * (an absolute index) not in names. */
void bpfmap_check_keys(lua_State *L, int arg, const char *const names[], const char *noun);
/* Whether an options table was given at arg: false for none or nil;
 * otherwise raises unless it is a table whose keys are all in names. */
bool bpfmap_check_opt_keys(lua_State *L, int arg, const char *const names[]);
/* Raise "bad argument #arg (<what>: <msg>)" */
int bpfmap_arg_error(lua_State *L, int arg, const char *fmt, ...);
/*
 * Register a handle type as liolib does: metatable `name` (its __name), the
 * methods as __index, close_fn as both __gc and __close (none for a handle
 * that owns nothing), and __tostring.
 */
void bpfmap_new_type(lua_State *L, const char *name, const luaL_Reg *methods,
                     lua_CFunction close_fn, lua_CFunction tostring_fn);
/* A string argument free of embedded NULs, named in errors as `what`. */
const char *bpfmap_check_path_arg(lua_State *L, int arg, const char *what);

/* ---- mapdata.c ---- */
struct mapdata {
	int fd;                    /* -1 once closed */
	struct bpf_map_info info;  /* immutable facts, read once at open */
	void *mem;                 /* shared read-write mapping, or NULL */
	size_t mem_len;
	int mem_err;               /* errno of a failed mmap, so we try once */
	bool read_only;            /* opened O_RDONLY (BPF_F_RDONLY is a property
	                            * of the descriptor, not of the map) */
};

int bpfmap_mapdata_open(lua_State *L);
/* Push a closed MapData, to receive a descriptor once its __gc is armed. */
struct mapdata *bpfmap_new_mapdata(lua_State *L);
/* Unmap, close; leaves the MapData closed.  Idempotent. */
void bpfmap_mapdata_release(struct mapdata *md);
/* The MapData at idx, raising if it is not one or is closed. */
struct mapdata *bpfmap_check_mapdata(lua_State *L, int idx);
/* The MapData at idx or NULL (closed ones too: check md->fd). */
struct mapdata *bpfmap_test_mapdata(lua_State *L, int idx);
/*
 * Take ownership of md->fd of the new MapData on top of the stack: check it
 * is a map and cache its info.  Returns 1 leaving the MapData there, or
 * closes it, replaces it by nil, message, errno and returns 3.  `what` names
 * the operation in messages.
 */
int bpfmap_adopt_mapdata(lua_State *L, struct mapdata *md, const char *what);
/* Map the value region read-write once; 0 or negative errno. */
int bpfmap_mapdata_mmap(struct mapdata *md);

/* ---- elements.c ---- */
/* Adds lookup, update, delete, ... to MapData's methods; pushes nothing. */
int bpfmap_elements_open(lua_State *L);

/* ---- mapinfo.c ---- */
extern const char *const bpfmap_flag_names[];  /* by bit */
extern const size_t bpfmap_nflags;
/* frozen (1/0) and memlock from /proc/self/fdinfo, -1 where unknown;
 * 0 or negative errno. */
int bpfmap_read_fdinfo(int fd, int *frozen, long long *memlock);
int bpfmap_mapinfo_open(lua_State *L);
/* Push a MapInfo for info plus the fdinfo facts of fd (-1: unknown). */
void bpfmap_push_mapinfo(lua_State *L, const struct bpf_map_info *info, int fd);
/* The one-line bpftool-like summary. */
void bpfmap_mapinfo_summary(luaL_Buffer *b, const struct bpf_map_info *info, int frozen);
/* Name of a map type ("array"), or NULL if libbpf does not know it. */
const char *bpfmap_map_type_name(__u32 type);

/* ---- discover.c ---- */
int bpfmap_discover_open(lua_State *L);

/* ---- btf_cache.c ---- */
/* A one-entry cache of a resolution, kept by its user (a BpfMapWrite). */
struct bpfmap_leaf_memo {
	__u32 btf_id;        /* 0: empty */
	__u32 gen;           /* the cache slot's generation it was made in */
	__u32 value_type_id;
	struct bpfmap_leaf leaf;
};

/*
 * The leaf that path names in the value type of a map with BTF btf_id,
 * from a per-Lua-state cache.  A miss loads the BTF from the kernel and
 * holds a descriptor of it, so the id cannot be freed and given to another
 * program's BTF while the cache still answers for it.  0 or a negative
 * errno with a message in err.  memo (may be NULL) answers first when the
 * slot it was made in still holds that BTF, and is refreshed on success.
 */
int bpfmap_btf_leaf(lua_State *L, __u32 btf_id, __u32 value_type_id, const char *path,
                    struct bpfmap_leaf_memo *memo, struct bpfmap_leaf *leaf,
                    char *err, size_t errlen);
int bpfmap_btf_cache_open(lua_State *L);   /* sets clear_cache on the table at -1 */

/* ---- btf.c ---- */
int bpfmap_btf_open(lua_State *L);         /* sets Btf on the table at -1 */

/* ---- mapwrite.c ---- */
/* Sets BpfMapWrite and apply_once on the table at -1. */
int bpfmap_mapwrite_open(lua_State *L);

/* ---- batch.c ---- */
/* Adds lookup_batch, update_batch, delete_batch, lookup_and_delete_batch to
 * MapData's methods; pushes nothing. */
int bpfmap_batch_open(lua_State *L);

/* ---- typed.c ---- */
/* Adds get, set, read, write to MapData's methods; pushes nothing. */
int bpfmap_typed_open(lua_State *L);

/* ---- dump.c ---- */
/* Adds dump to MapData's methods; pushes nothing. */
int bpfmap_dump_open(lua_State *L);

/* ---- object.c ---- */
/* Sets Object on the table at -1. */
int bpfmap_object_open(lua_State *L);

/* ---- process.c ---- */
/* Sets Signal and spawn on the table at -1. */
int bpfmap_process_open(lua_State *L);

#endif
