/*
 * Field-path resolution through BTF: pure C on libbpf's BTF API, no Lua, so
 * it can be fuzzed with arbitrary BTF blobs and unit-tested with synthetic
 * BTF built by btf__add_*().
 *
 * A path is dot-separated segments, each a name with optional [index]
 * suffixes: "crash", "stats.inner.limit", "slots[2].x", "grid[1][3]".
 * Against a DATASEC the first segment names a VAR; against a STRUCT or UNION
 * it names a member.  Typedef/const/volatile/restrict/type_tag are stripped,
 * anonymous struct/union members are searched as C does, indices are
 * bounds-checked, and a path never descends through a pointer.
 */
#ifndef BPFMAP_BTF_PATH_H
#define BPFMAP_BTF_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct btf;

enum bpfmap_leaf_kind {
	BPFMAP_LEAF_INT,
	BPFMAP_LEAF_BOOL,
	BPFMAP_LEAF_ENUM,
};

struct bpfmap_leaf {
	__u32 offset;             /* bytes from the start of the value */
	__u32 size;               /* 1, 2, 4 or 8 */
	bool is_signed;
	enum bpfmap_leaf_kind kind;
	__u32 type_id;            /* the field's declared type, before stripping */
	char type_name[96];       /* declared name, e.g. "__u32", "enum mode" */
};

/*
 * Resolve path against type value_type_id of btf.  Returns 0 and fills leaf,
 * or a negative errno with a message in err (always NUL-terminated):
 *   -ENOENT  a name is not there, or an index is out of bounds
 *   -EINVAL  the path meets the wrong kind of type: a member of a scalar, an
 *            index of a non-array, a pointer, or a leaf that is not a plain
 *            integer / enum / bool of 1, 2, 4 or 8 bytes (struct, array,
 *            pointer, float, bitfield); also a malformed path
 */
int bpfmap_btf_resolve(const struct btf *btf, __u32 value_type_id,
                       const char *path, struct bpfmap_leaf *leaf,
                       char *err, size_t errlen);

/* A printable name for a BTF type ("struct stats", "__u32", "int *"). */
void bpfmap_btf_type_str(const struct btf *btf, __u32 type_id, char *buf, size_t len);

#endif
