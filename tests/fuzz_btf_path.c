/*
 * libFuzzer harness for csrc/btf_path.c: arbitrary bytes as a BTF blob, a
 * type id and a path.
 *
 * Input layout:
 *   byte 0..1   type id, little-endian; taken modulo (btf__type_cnt + 2) so
 *               most inputs name a real type and a few name none
 *   byte 2      L, the length of the path
 *   byte 3..    the BTF blob (everything up to the path)
 *   last L      the path (cut at its first NUL; the resolver takes C strings)
 * An input too short for its L is all blob with an empty path.
 *
 * Besides not crashing or hanging, the resolver must return 0, -ENOENT or
 * -EINVAL, leave a terminated message, and on success a leaf of 1, 2, 4 or 8
 * bytes that fits below 4 GiB.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc \
 *       tests/fuzz_btf_path.c csrc/btf_path.c -lbpf -o build/tests/fuzz_btf_path
 *   build/tests/fuzz_btf_path -max_total_time=60 -timeout=5 tests/corpus/btf_path
 * tests/make_btf_seeds.c writes the seed corpus in this layout.
 */
#include "btf_path.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "require.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	libbpf_set_print(quiet);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bpfmap_leaf leaf;
	char err[256], tstr[96], *path;
	size_t plen = 0, blen;
	struct btf *btf;
	__u32 id, cnt;
	void *blob;
	int rc;

	if (size < 3)
		return 0;
	if ((size_t)data[2] <= size - 3)
		plen = data[2];
	blen = size - 3 - plen;
	/* Exact-size heap copies, so ASan sees any overread. */
	path = malloc(plen + 1);
	blob = malloc(blen ? blen : 1);
	if (!path || !blob)
		goto out;
	memcpy(path, data + 3 + blen, plen);
	path[plen] = '\0';
	memcpy(blob, data + 3, blen);

	btf = btf__new(blob, (__u32)blen);
	if (!btf)
		goto out;
	cnt = btf__type_cnt(btf);
	id = (__u32)(data[0] | data[1] << 8) % (cnt + 2);

	memset(err, 'X', sizeof(err));
	rc = bpfmap_btf_resolve(btf, id, path, &leaf, err, sizeof(err));
	REQUIRE(rc == 0 || rc == -ENOENT || rc == -EINVAL);
	REQUIRE(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == 0) {
		REQUIRE(err[0] == '\0');
		REQUIRE(leaf.size == 1 || leaf.size == 2 || leaf.size == 4 || leaf.size == 8);
		REQUIRE((__u64)leaf.offset + leaf.size <= 0xffffffffULL);
		REQUIRE(leaf.kind == BPFMAP_LEAF_INT || leaf.kind == BPFMAP_LEAF_BOOL ||
		        leaf.kind == BPFMAP_LEAF_ENUM);
		REQUIRE(memchr(leaf.type_name, '\0', sizeof(leaf.type_name)) != NULL);
		REQUIRE(leaf.type_id < cnt);
	} else {
		REQUIRE(err[0] != '\0');
	}

	/* type_str of every id near the one chosen, into a tight buffer. */
	memset(tstr, 'X', sizeof(tstr));
	bpfmap_btf_type_str(btf, id, tstr, sizeof(tstr));
	REQUIRE(memchr(tstr, '\0', sizeof(tstr)) != NULL);
	bpfmap_btf_type_str(btf, id + 1, tstr, 7);
	REQUIRE(memchr(tstr, '\0', 7) != NULL);

	btf__free(btf);
out:
	free(path);
	free(blob);
	return 0;
}
