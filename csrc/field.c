/*
 * Loads, stores and the pre-store checks of one integer field of a map's
 * value: the one implementation behind BpfMapWrite's apply and MapData's
 * typed set, so a field is range-checked and written the same way whichever
 * way the caller reached it.
 */
#include "field.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void bpfmap_int_range(__u32 nbits, bool is_signed, enum bpfmap_leaf_kind kind,
                      lua_Integer *lo, lua_Integer *hi)
{
	/* in uint64_t: 1 << 63 does not fit a lua_Integer (a 63-bit field) */
	uint64_t half = nbits ? (uint64_t)1 << ((nbits < 64 ? nbits : 64) - 1) : 0;

	if (kind == BPFMAP_LEAF_BOOL) {
		*lo = 0;
		*hi = 1;
	} else if (nbits == 0) {
		*lo = *hi = 0;
	} else if (nbits >= 64) {
		/* u64 takes every Lua integer, negative ones as two's complement,
		 * as Lua's own 0xffffffffffffffff == -1 does */
		*lo = LUA_MININTEGER;
		*hi = LUA_MAXINTEGER;
	} else if (is_signed) {
		*lo = -(lua_Integer)half;
		*hi = (lua_Integer)(half - 1);
	} else if (kind == BPFMAP_LEAF_ENUM) {
		/* BTF before enum64 does not say whether an enum is signed */
		*lo = -(lua_Integer)half;
		*hi = (lua_Integer)(2 * half - 1);
	} else {
		*lo = 0;
		*hi = (lua_Integer)(2 * half - 1);
	}
}

void bpfmap_leaf_range(const struct bpfmap_leaf *l, lua_Integer *lo, lua_Integer *hi)
{
	bpfmap_int_range(l->size * 8, l->is_signed, l->kind, lo, hi);
}

bool bpfmap_leaf_aligned(const struct bpfmap_leaf *l)
{
	return l->offset % l->size == 0;
}

lua_Integer bpfmap_load_field(const unsigned char *base, const struct bpfmap_leaf *l)
{
	const void *p = base + l->offset;
	uint64_t u = 0;

	if (bpfmap_leaf_aligned(l)) {
		switch (l->size) {
		case 1: u = __atomic_load_n((const uint8_t *)p, __ATOMIC_RELAXED); break;
		case 2: u = __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED); break;
		case 4: u = __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED); break;
		default: u = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED); break;
		}
	} else {
		uint8_t b1; uint16_t b2; uint32_t b4;

		switch (l->size) {
		case 1: memcpy(&b1, p, 1); u = b1; break;
		case 2: memcpy(&b2, p, 2); u = b2; break;
		case 4: memcpy(&b4, p, 4); u = b4; break;
		default: memcpy(&u, p, 8); break;
		}
	}
	if (l->is_signed && l->size < 8 && (u >> (l->size * 8 - 1)) & 1)
		u |= ~(uint64_t)0 << (l->size * 8);
	return (lua_Integer)u;
}

void bpfmap_store_field(unsigned char *base, const struct bpfmap_leaf *l, lua_Integer v)
{
	void *p = base + l->offset;
	uint64_t u = (uint64_t)v;

	if (bpfmap_leaf_aligned(l)) {
		switch (l->size) {
		case 1: __atomic_store_n((uint8_t *)p, (uint8_t)u, __ATOMIC_RELAXED); break;
		case 2: __atomic_store_n((uint16_t *)p, (uint16_t)u, __ATOMIC_RELAXED); break;
		case 4: __atomic_store_n((uint32_t *)p, (uint32_t)u, __ATOMIC_RELAXED); break;
		default: __atomic_store_n((uint64_t *)p, u, __ATOMIC_RELAXED); break;
		}
	} else {
		uint8_t b1 = (uint8_t)u; uint16_t b2 = (uint16_t)u; uint32_t b4 = (uint32_t)u;

		switch (l->size) {
		case 1: memcpy(p, &b1, 1); break;
		case 2: memcpy(p, &b2, 2); break;
		case 4: memcpy(p, &b4, 4); break;
		default: memcpy(p, &u, 8); break;
		}
	}
}

lua_Integer bpfmap_as_stored(const struct bpfmap_leaf *l, lua_Integer v)
{
	unsigned char buf[8] = { 0 };
	struct bpfmap_leaf at0 = *l;

	at0.offset = 0;
	bpfmap_store_field(buf, &at0, v);
	return bpfmap_load_field(buf, &at0);
}

bool bpfmap_map_frozen(struct mapdata *md, char *why, size_t whylen)
{
	int frozen;
	long long memlock;

	bpfmap_read_fdinfo(md->fd, &frozen, &memlock);
	if (frozen != 1)
		return false;
	snprintf(why, whylen, "the map is frozen (read-only from user space)");
	return true;
}

int bpfmap_field_prepare(struct mapdata *md, const struct bpfmap_leaf *l, lua_Integer v,
                         size_t elem_off, bool want_atomic, bool check_frozen,
                         struct bpfmap_field_store *st, char *why, size_t whylen)
{
	lua_Integer lo, hi;
	int rc;

	st->via_mmap = st->atomic = false;
	bpfmap_leaf_range(l, &lo, &hi);
	if (v < lo || v > hi) {
		snprintf(why, whylen, "value %lld out of range %lld..%lld", (long long)v,
		         (long long)lo, (long long)hi);
		return ERANGE;
	}
	/* The kernel keeps BPF_F_RDONLY on the descriptor, not in the map's
	 * flags: a descriptor opened read-only is what refuses writes. */
	if (md->read_only || (md->info.map_flags & BPF_F_RDONLY)) {
		snprintf(why, whylen, "the map's descriptor is read-only (BPF_F_RDONLY)");
		return EPERM;
	}
	rc = bpfmap_mapdata_mmap(md);
	if (rc == 0 && elem_off <= md->mem_len && md->info.value_size <= md->mem_len - elem_off) {
		st->via_mmap = true;
		st->atomic = bpfmap_leaf_aligned(l);
		if (!st->atomic && want_atomic) {
			snprintf(why, whylen, "the field is not naturally aligned, so no single store "
			         "can write it, and opts.atomic is set");
			return ENOTSUP;
		}
		return 0;
	}
	/* a writable mapping of a frozen map is refused with EPERM */
	if (rc == -EPERM) {
		snprintf(why, whylen, "the map is frozen (read-only from user space)");
		return EPERM;
	}
	if (check_frozen && bpfmap_map_frozen(md, why, whylen))
		return EPERM;
	if (want_atomic) {
		snprintf(why, whylen, "%s, a read-modify-write of its value could race with the "
		         "program, and opts.atomic is set",
		         rc == 0 ? "the element lies outside the map's mapping" : "the map is not mmapable");
		return ENOTSUP;
	}
	return 0;
}

int bpfmap_fail_field(lua_State *L, const char *what, const struct mapdata *md, const char *path,
                      const struct bpfmap_leaf *l, int err, const char *why)
{
	bool said = err == ERANGE || err == EPERM || err == ENOTSUP;

	lua_pushfstring(L, "%s: map '%s' (id %I) field '%s' (%s at offset %d): %s%s%s; nothing written",
	                what, md->info.name, (lua_Integer)md->info.id, path, l->type_name,
	                (int)l->offset, why, said ? "" : ": ", said ? "" : strerror(err));
	return bpfmap_fail_msg(L, err, lua_tostring(L, -1));
}
