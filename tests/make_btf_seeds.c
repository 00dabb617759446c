/*
 * Writes the seed corpus for tests/fuzz_btf_path.c: one small BTF blob
 * (btf__raw_data of synthetic BTF in the shape of a BPF program's globals)
 * paired with several type ids and paths, in the harness's input layout
 * ([id lo][id hi][path length] blob path).
 *
 *   cc -Icsrc tests/make_btf_seeds.c -lbpf -o build/tests/make_btf_seeds
 *   build/tests/make_btf_seeds tests/corpus/btf_path
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>

static int must(int id, const char *what)
{
	if (id < 0) {
		fprintf(stderr, "%s failed: %d\n", what, id);
		exit(1);
	}
	return id;
}
#define T(call) must((call), #call)

static void seed(const char *dir, const char *name, const void *raw, __u32 rawsz,
                 int id, const char *path)
{
	char file[4096];
	unsigned char hdr[3];
	size_t plen = strlen(path);
	FILE *f;

	snprintf(file, sizeof(file), "%s/%s", dir, name);
	f = fopen(file, "wb");
	if (!f) {
		perror(file);
		exit(1);
	}
	hdr[0] = (unsigned char)(id & 0xff);
	hdr[1] = (unsigned char)(id >> 8);
	hdr[2] = (unsigned char)plen;
	if (fwrite(hdr, 1, 3, f) != 3 || fwrite(raw, 1, rawsz, f) != rawsz ||
	    fwrite(path, 1, plen, f) != plen || fclose(f)) {
		perror(file);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct btf *btf = btf__new_empty();
	int u8, u16, u32, s32, u64, cpu_ctx, st, un, anon, pt, slots, row, grid, my_u32,
	    mode, ptr, holder, var_st, var_crash, var_h, bss, bf;
	const void *raw;
	__u32 rawsz;

	if (argc != 2 || !btf) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	u8 = T(btf__add_int(btf, "unsigned char", 1, 0));
	u16 = T(btf__add_int(btf, "unsigned short", 2, 0));
	u32 = T(btf__add_int(btf, "unsigned int", 4, 0));
	s32 = T(btf__add_int(btf, "int", 4, BTF_INT_SIGNED));
	u64 = T(btf__add_int(btf, "unsigned long long", 8, 0));
	cpu_ctx = T(btf__add_struct(btf, "cpu_ctx", 16));
	T(btf__add_field(btf, "lat_headroom", u32, 64, 0));
	T(btf__add_field(btf, "lat_cri", u16, 96, 0));
	st = T(btf__add_struct(btf, "sys_stat", 8));
	T(btf__add_field(btf, "avg_lat_cri", u32, 32, 0));
	un = T(btf__add_union(btf, NULL, 8));
	T(btf__add_field(btf, "b", u32, 0, 0));
	T(btf__add_field(btf, "w", u64, 0, 0));
	anon = T(btf__add_struct(btf, NULL, 8));
	T(btf__add_field(btf, "d", u32, 0, 0));
	T(btf__add_field(btf, NULL, un, 0, 0));
	pt = T(btf__add_struct(btf, "pt", 8));
	T(btf__add_field(btf, "x", u32, 0, 0));
	T(btf__add_field(btf, "y", u32, 32, 0));
	slots = T(btf__add_array(btf, u32, pt, 4));
	row = T(btf__add_array(btf, u32, u8, 4));
	grid = T(btf__add_array(btf, u32, row, 3));
	my_u32 = T(btf__add_typedef(btf, "my_u32", T(btf__add_const(btf, u32))));
	mode = T(btf__add_enum(btf, "mode", 4));
	T(btf__add_enum_value(btf, "MODE_A", 1));
	ptr = T(btf__add_ptr(btf, pt));
	bf = T(btf__add_struct(btf, "bf", 8));
	T(btf__add_field(btf, "flags", u32, 0, 4));
	T(btf__add_field(btf, "plain", u32, 32, 0));
	holder = T(btf__add_struct(btf, "holder", 88));
	T(btf__add_field(btf, NULL, anon, 0, 0));
	T(btf__add_field(btf, "slots", slots, 64, 0));
	T(btf__add_field(btf, "grid", grid, 320, 0));
	T(btf__add_field(btf, "v", my_u32, 416, 0));
	T(btf__add_field(btf, "m", mode, 448, 0));
	T(btf__add_field(btf, "p", ptr, 512, 0));
	T(btf__add_field(btf, "bits", bf, 576, 0));
	var_st = T(btf__add_var(btf, "sys_stat", 1, st));
	var_crash = T(btf__add_var(btf, "crash", 1, s32));
	var_h = T(btf__add_var(btf, "h", 1, holder));
	bss = T(btf__add_datasec(btf, ".bss", 320));
	T(btf__add_datasec_var_info(btf, var_st, 128, 8));
	T(btf__add_datasec_var_info(btf, var_crash, 216, 4));
	T(btf__add_datasec_var_info(btf, var_h, 224, 88));

	raw = btf__raw_data(btf, &rawsz);
	if (!raw) {
		fprintf(stderr, "btf__raw_data failed\n");
		return 1;
	}
	seed(argv[1], "cpu_ctx_lat_headroom", raw, rawsz, cpu_ctx, "lat_headroom");
	seed(argv[1], "bss_sys_stat", raw, rawsz, bss, "sys_stat.avg_lat_cri");
	seed(argv[1], "bss_crash", raw, rawsz, bss, "crash");
	seed(argv[1], "bss_slots", raw, rawsz, bss, "h.slots[2].y");
	seed(argv[1], "bss_grid", raw, rawsz, bss, "h.grid[1][2]");
	seed(argv[1], "holder_anon", raw, rawsz, holder, "b");
	seed(argv[1], "holder_typedef", raw, rawsz, holder, "v");
	seed(argv[1], "holder_enum", raw, rawsz, holder, "m");
	seed(argv[1], "holder_ptr", raw, rawsz, holder, "p.x");
	seed(argv[1], "holder_bitfield", raw, rawsz, holder, "bits.flags");
	seed(argv[1], "holder_missing", raw, rawsz, holder, "nope");
	btf__free(btf);
	return 0;
}
