/*
 * BpfMapWrite: a validated (map_name_suffix, field, value) descriptor, after
 * ktstr's, and the one-attempt apply behind bpfmap.apply_writes().
 *
 * Construction checks both names (names.c) and interns the triple in a weak
 * table, so equal triples are one object: == holds and they count once as
 * table keys, as Eq + Hash let ktstr put them in a set.
 *
 * An apply runs in phases so that a batch is all-or-nothing:
 *   1. candidates: array maps whose kernel name ends in a suffix, narrowed
 *      by opts.map / opts.maps / opts.prog;
 *   2. resolution of every write through its candidate's BTF (btf_cache.c),
 *      refusing ambiguity (ENOTUNIQ) instead of taking the first;
 *   3. checks and preparation of every store: value range, read-only maps,
 *      the mmap (or, where a map is not mmapable, a read of the value);
 *   4. the stores: one naturally aligned store of the field's width through
 *      the mapping, or a patch and BPF_EXIST update, rolled back if a later
 *      update fails.
 * Only phase 4 changes anything.  The retry-until-timeout loop is Lua's
 * (lua/bpfmap/init.lua), so a REPL's Ctrl-C still works while it waits.
 */
#include "bpfmap.h"
#include "btf_path.h"
#include "discover.h"
#include "field.h"
#include "names.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

struct mapwrite {
	struct bpfmap_leaf_memo memo;  /* last resolution: a cache, not state */
	lua_Integer value;
	size_t suffix_len;
	size_t field_len;
	char text[];   /* suffix, NUL, field, NUL */
};

#define SUFFIX(w) ((w)->text)
#define FIELD(w) ((w)->text + (w)->suffix_len + 1)

static const char intern_key = 'i';
const char bpfmap_mapwrite_key = 'w';

/* ---- construction ---- */

static void push_intern_table(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &intern_key) != LUA_TNIL)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "v");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &intern_key);
}

static const char *check_name_arg(lua_State *L, int arg, const char *what, size_t *len,
                                  int (*check)(const char *, size_t, char *, size_t))
{
	char msg[160];
	const char *s;

	if (lua_type(L, arg) != LUA_TSTRING)
		bpfmap_arg_error(L, arg, "%s must be a string, got %s", what, luaL_typename(L, arg));
	s = lua_tolstring(L, arg, len);
	if (check(s, *len, msg, sizeof(msg)))
		luaL_argerror(L, arg, msg);
	return s;
}

/* BpfMapWrite.new(map_name_suffix, field, value) */
static int mw_new(lua_State *L)
{
	size_t slen, flen;
	const char *suffix = check_name_arg(L, 1, "map_name_suffix", &slen, bpfmap_check_suffix);
	const char *field = check_name_arg(L, 2, "field", &flen, bpfmap_check_field);
	lua_Integer value;
	struct mapwrite *w;
	luaL_Buffer key;
	int isint;

	if (lua_type(L, 3) != LUA_TNUMBER)
		bpfmap_arg_error(L, 3, "value must be an integer, got %s", luaL_typename(L, 3));
	value = lua_tointegerx(L, 3, &isint);
	if (!isint)
		bpfmap_arg_error(L, 3, "value must be an integer, got %s", lua_tostring(L, 3));

	push_intern_table(L);
	luaL_buffinit(L, &key);
	luaL_addlstring(&key, suffix, slen + 1);
	luaL_addlstring(&key, field, flen + 1);
	luaL_addlstring(&key, (const char *)&value, sizeof(value));
	luaL_pushresult(&key);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, -3) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	w = lua_newuserdatauv(L, sizeof(*w) + slen + flen + 2, 0);
	memset(&w->memo, 0, sizeof(w->memo));
	w->value = value;
	w->suffix_len = slen;
	w->field_len = flen;
	memcpy(SUFFIX(w), suffix, slen + 1);
	memcpy(FIELD(w), field, flen + 1);
	luaL_setmetatable(L, BPFMAP_MAPWRITE);
	lua_pushvalue(L, -1);
	lua_insert(L, -3);
	lua_rawset(L, -4);
	return 1;
}

static struct mapwrite *check_write(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, BPFMAP_MAPWRITE);
}

static int mw_suffix(lua_State *L)
{
	struct mapwrite *w = check_write(L, 1);

	lua_pushlstring(L, SUFFIX(w), w->suffix_len);
	return 1;
}

static int mw_field(lua_State *L)
{
	struct mapwrite *w = check_write(L, 1);

	lua_pushlstring(L, FIELD(w), w->field_len);
	return 1;
}

static int mw_value(lua_State *L)
{
	lua_pushinteger(L, check_write(L, 1)->value);
	return 1;
}

static int mw_tostring(lua_State *L)
{
	struct mapwrite *w = check_write(L, 1);

	lua_pushfstring(L, "BpfMapWrite(\"%s\", \"%s\", %I)", SUFFIX(w), FIELD(w), w->value);
	return 1;
}

/* Interning makes equal triples one object; __eq guards the rest. */
static int mw_eq(lua_State *L)
{
	struct mapwrite *a = bpfmap_test_type(L, 1, &bpfmap_mapwrite_key);
	struct mapwrite *b = bpfmap_test_type(L, 2, &bpfmap_mapwrite_key);

	/* comparing with any other userdata is false, not an error */
	lua_pushboolean(L, a && b && a->value == b->value && !strcmp(SUFFIX(a), SUFFIX(b)) &&
	                       !strcmp(FIELD(a), FIELD(b)));
	return 1;
}

/* ---- apply: options ---- */

struct apply_opts {
	int map_arg;         /* stack index of opts.map, or 0 */
	int maps_arg;        /* stack index of opts.maps, or 0 */
	bool has_prog;
	lua_Integer prog_id; /* when has_prog and !prog_name */
	const char *prog_name;
	bool atomic;
	bool report;         /* false: return true instead of the report */
	lua_Number timeout;  /* seconds apply_writes keeps retrying ENOENT */
};

enum opt { OPT_MAP, OPT_MAPS, OPT_PROG, OPT_ATOMIC, OPT_TIMEOUT, OPT_INTERVAL, OPT_REPORT };

static const char *const opt_names[] = {
	"map", "maps", "prog", "atomic", "timeout", "interval", "report", NULL,
};

static void check_map_ref(lua_State *L, int opts, int idx, const char *what)
{
	struct mapdata *md = bpfmap_test_mapdata(L, idx);
	int isint;
	lua_Integer id;

	if (md) {
		if (md->fd < 0)
			bpfmap_arg_error(L, opts, "%s is a closed MapData", what);
		return;
	}
	if (lua_type(L, idx) != LUA_TNUMBER)
		bpfmap_arg_error(L, opts, "%s must be a MapData or a map id, got %s", what,
		                 luaL_typename(L, idx));
	id = lua_tointegerx(L, idx, &isint);
	if (!isint || id < 1 || id > UINT32_MAX)
		bpfmap_arg_error(L, opts, "%s must be a map id in 1..4294967295, got %s", what,
		                 lua_tostring(L, idx));
}

static void check_seconds(lua_State *L, int opts, int idx, const char *key, bool zero_ok)
{
	lua_Number sec;

	if (lua_type(L, idx) != LUA_TNUMBER)
		bpfmap_arg_error(L, opts, "%s must be a number of seconds, got %s", key,
		                 luaL_typename(L, idx));
	sec = lua_tonumber(L, idx);
	if (!(sec >= 0) || (!zero_ok && sec == 0) || sec > 1e9)
		bpfmap_arg_error(L, opts, "%s must be %s 1e9 seconds, got %s", key,
		                 zero_ok ? "in 0 .." : "above 0 and at most", lua_tostring(L, idx));
}

static void check_prog(lua_State *L, int opts, int idx, struct apply_opts *o)
{
	size_t len;
	char msg[128];
	int isint;

	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		o->prog_name = lua_tolstring(L, idx, &len);
		if (len == 0 || bpfmap_check_map_name("prog", o->prog_name, len, msg, sizeof(msg)))
			bpfmap_arg_error(L, opts, "prog must be a program name of 1..15 letters, digits, '_' or '.'");
		break;
	case LUA_TNUMBER:
		o->prog_id = lua_tointegerx(L, idx, &isint);
		if (!isint || o->prog_id < 1 || o->prog_id > UINT32_MAX)
			bpfmap_arg_error(L, opts, "prog must be a program id in 1..4294967295 or a name, got %s",
			                 lua_tostring(L, idx));
		break;
	default:
		bpfmap_arg_error(L, opts, "prog must be a program id or name, got %s", luaL_typename(L, idx));
	}
	o->has_prog = true;
}

static void check_maps(lua_State *L, int opts, int idx)
{
	lua_Integer i, n;

	if (lua_type(L, idx) != LUA_TTABLE)
		bpfmap_arg_error(L, opts, "maps must be a list of MapData or map ids, got %s",
		                 luaL_typename(L, idx));
	n = (lua_Integer)lua_rawlen(L, idx);
	if (n == 0)
		bpfmap_arg_error(L, opts, "maps must not be empty");
	bpfmap_check_list(L, opts, idx, "maps must be a list of MapData or map ids");
	for (i = 1; i <= n; i++) {
		char what[32];

		snprintf(what, sizeof(what), "maps[%d]", (int)i);
		lua_rawgeti(L, idx, i);
		check_map_ref(L, opts, lua_gettop(L), what);
		lua_pop(L, 1);
	}
}

/*
 * Raise for any mistake in opts.  One pass over the table, so the options a
 * caller did not give cost nothing: this runs on every warm apply.  The
 * values stay reachable through opts, which the caller's stack holds, so
 * o->map_arg / o->maps_arg are indices of copies pushed here.
 */
static void read_opts(lua_State *L, int opts, struct apply_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->report = true;
	if (lua_isnoneornil(L, opts))
		return;
	luaL_checktype(L, opts, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, opts)) {
		int v = lua_gettop(L), k = v - 1;
		enum opt which = bpfmap_opt_index(L, opts, k, opt_names);

		switch (which) {
		case OPT_MAP:
			check_map_ref(L, opts, v, "map");
			lua_pushvalue(L, v);
			lua_insert(L, k);     /* below the key, out of lua_next's way */
			o->map_arg = k;
			break;
		case OPT_MAPS:
			check_maps(L, opts, v);
			lua_pushvalue(L, v);
			lua_insert(L, k);
			o->maps_arg = k;
			break;
		case OPT_PROG:
			check_prog(L, opts, v, o);
			break;
		case OPT_ATOMIC:
		case OPT_REPORT:
			if (lua_type(L, v) != LUA_TBOOLEAN)
				bpfmap_arg_error(L, opts, "%s must be a boolean, got %s", opt_names[which],
				                 luaL_typename(L, v));
			if (which == OPT_ATOMIC)
				o->atomic = lua_toboolean(L, v);
			else
				o->report = lua_toboolean(L, v);
			break;
		case OPT_TIMEOUT:
		case OPT_INTERVAL:
			check_seconds(L, opts, v, opt_names[which], which == OPT_TIMEOUT);
			if (which == OPT_TIMEOUT)
				o->timeout = lua_tonumber(L, v);
			break;
		}
		lua_pop(L, 1);
	}
	if (o->map_arg && o->maps_arg)
		bpfmap_arg_error(L, opts, "give map or maps, not both");
}

/* ---- apply: state of one attempt ---- */

struct cand {
	struct mapdata *md;
	bool owned;          /* opened by this attempt: closed at its end */
};

struct target {
	struct mapwrite *w;
	struct cand *c;
	struct bpfmap_leaf leaf;
	bool via_mmap;
	bool atomic;
	int rmw;             /* index into the rmw buffers, or -1 */
	lua_Integer before;
};

struct rmw_buf {
	struct mapdata *md;
	unsigned char *orig;
	unsigned char *patched;
	bool updated;
	int restore_err;     /* errno of a failed rollback of this map, or 0 */
};

#define SMALL 8  /* batches and candidate lists up to this size use no heap */

struct attempt {
	lua_State *L;
	struct apply_opts o;
	struct mapwrite **w;
	int nw;
	struct cand *cand;
	int ncand, cap;
	int anchor_idx;      /* stack slot reserved at the start of the attempt
	                      * for a table keeping what we open alive; nil until
	                      * first needed: the warm path opens nothing */
	__u32 *prog_maps;    /* opts.prog's map ids */
	int nprog_maps;
	int prog_found;
	struct target *t;
	struct rmw_buf *rmw;
	int nrmw;
	struct mapwrite *w_small[SMALL];
	struct target t_small[SMALL];
	struct rmw_buf rmw_small[SMALL];
	struct cand cand_small[SMALL];
};

/*
 * Anchor the value on top of the stack (popping it) for the attempt.  The
 * table lives in a slot reserved below everything the phases push, so
 * anchoring leaves the stack exactly one value lower, whatever the caller
 * has on top.
 */
static void anchor(struct attempt *a)
{
	lua_State *L = a->L;

	if (lua_isnil(L, a->anchor_idx)) {
		lua_newtable(L);
		lua_replace(L, a->anchor_idx);
	}
	lua_rawseti(L, a->anchor_idx, (lua_Integer)lua_rawlen(L, a->anchor_idx) + 1);
}

static bool name_ends_with(const char *name, const char *suffix, size_t slen)
{
	size_t nlen = strnlen(name, BPF_OBJ_NAME_LEN);

	return nlen >= slen && memcmp(name + nlen - slen, suffix, slen) == 0;
}

static bool wanted_by_some_write(const struct attempt *a, const char *name)
{
	int i;

	for (i = 0; i < a->nw; i++)
		if (name_ends_with(name, SUFFIX(a->w[i]), a->w[i]->suffix_len))
			return true;
	return false;
}

static bool in_prog_maps(const struct attempt *a, __u32 id)
{
	int i;

	if (!a->o.has_prog)
		return true;
	for (i = 0; i < a->nprog_maps; i++)
		if (a->prog_maps[i] == id)
			return true;
	return false;
}

static void add_cand(struct attempt *a, struct mapdata *md, bool owned)
{
	lua_State *L = a->L;

	if (a->ncand == a->cap) {
		struct cand *grown;

		a->cap *= 2;
		grown = bpfmap_scratch_zeroed(L, (size_t)a->cap * sizeof(*grown));
		memcpy(grown, a->cand, (size_t)a->ncand * sizeof(*grown));
		a->cand = grown;
		anchor(a);
	}
	a->cand[a->ncand].md = md;
	a->cand[a->ncand].owned = owned;
	a->ncand++;
}

/* Before a map is opened: by its id (opts.prog) and remembered name. */
static bool may_be_candidate(__u32 id, const char *name, void *ctx)
{
	const struct attempt *a = ctx;

	return in_prog_maps(a, id) && (!name || wanted_by_some_write(a, name));
}

static int keep_candidate(int *fd, const struct bpf_map_info *info, void *ctx)
{
	struct attempt *a = ctx;
	/* may raise: the walk still owns *fd and its __gc closes it */
	struct mapdata *md = bpfmap_new_mapdata(a->L);

	md->fd = *fd;
	*fd = -1;
	md->info = *info;
	anchor(a);
	add_cand(a, md, true);
	return 0;
}

static bool is_candidate(const struct attempt *a, __u32 id)
{
	int i;

	for (i = 0; i < a->ncand; i++)
		if (a->cand[i].md->info.id == id)
			return true;
	return false;
}

/*
 * A map named in opts.map / opts.maps: a MapData as is, or an id opened now.
 * A map listed twice (by id or MapData) is one candidate, not an ambiguity.
 */
static int explicit_candidate(struct attempt *a, int idx)
{
	lua_State *L = a->L;
	struct mapdata *md = bpfmap_test_mapdata(L, idx);
	lua_Integer id;
	char what[48];
	int n;

	if (md) {
		/* opts, on the caller's stack, keeps it alive */
		if (!is_candidate(a, md->info.id))
			add_cand(a, md, false);
		return 0;
	}
	id = lua_tointeger(L, idx);
	if (is_candidate(a, (__u32)id))
		return 0;
	md = bpfmap_new_mapdata(L);
	md->fd = bpf_map_get_fd_by_id((__u32)id);
	if (md->fd < 0) {
		md->fd = -1;
		return bpfmap_fail_cap(L, errno, BPFMAP_NEED_ADMIN, "apply: open map id %I", id);
	}
	snprintf(what, sizeof(what), "apply: map id %lld", (long long)id);
	n = bpfmap_adopt_mapdata(L, md, what);
	if (n != 1)
		return n;
	anchor(a);
	add_cand(a, md, true);
	return 0;
}

struct prog_match {
	struct attempt *a;
	luaL_Buffer *ids;
};

static int match_prog(const struct bpf_prog_info *info, const __u32 *map_ids, __u32 n,
                      void *ctx)
{
	struct prog_match *pm = ctx;
	const struct apply_opts *o = &pm->a->o;

	if (o->prog_name ? strncmp(info->name, o->prog_name, BPF_OBJ_NAME_LEN) != 0
	                 : info->id != (__u32)o->prog_id)
		return 0;
	pm->a->prog_found++;
	luaL_addlstring(pm->ids, (const char *)map_ids, n * sizeof(*map_ids));
	return 0;
}

static void describe_narrowing(const struct attempt *a, luaL_Buffer *b)
{
	if (a->o.map_arg || a->o.maps_arg)
		luaL_addstring(b, " among the maps given in opts");
	if (a->o.has_prog) {
		if (a->o.prog_name)
			lua_pushfstring(a->L, " used by program '%s'", a->o.prog_name);
		else
			lua_pushfstring(a->L, " used by program id %I", a->o.prog_id);
		luaL_addvalue(b);
	}
}

/* Phase 1.  Returns 0, or pushes nil, msg, errno and returns 3. */
static int collect_candidates(struct attempt *a)
{
	lua_State *L = a->L;
	struct bpfmap_map_names *names;
	struct bpfmap_walk *walk;
	int rc;

	if (a->o.has_prog) {
		struct prog_match pm = { a, NULL };
		luaL_Buffer ids;

		walk = bpfmap_push_walk(L);   /* below the buffer, which must stay on top */
		luaL_buffinit(L, &ids);
		pm.ids = &ids;
		rc = bpfmap_walk_progs(walk, match_prog, &pm);
		luaL_pushresult(&ids);
		lua_remove(L, -2);   /* the walk, which holds nothing once done */
		if (rc)
			return bpfmap_fail_cap(L, -rc, BPFMAP_NEED_ADMIN, "apply: list programs");
		if (!a->prog_found) {
			if (a->o.prog_name)
				return bpfmap_fail_msg(L, ENOENT, lua_pushfstring(L,
				        "apply: no loaded program named '%s'", a->o.prog_name));
			return bpfmap_fail_msg(L, ENOENT, lua_pushfstring(L,
			        "apply: no loaded program with id %I", a->o.prog_id));
		}
		a->prog_maps = (__u32 *)lua_tostring(L, -1);
		a->nprog_maps = (int)(lua_rawlen(L, -1) / sizeof(__u32));
		anchor(a);  /* keeps the ids alive */
	}
	if (a->o.map_arg)
		return explicit_candidate(a, a->o.map_arg);
	if (a->o.maps_arg) {
		lua_Integer i, n = (lua_Integer)lua_rawlen(L, a->o.maps_arg);
		int top = lua_gettop(L);

		for (i = 1; i <= n; i++) {
			lua_rawgeti(L, a->o.maps_arg, i);
			rc = explicit_candidate(a, lua_gettop(L));
			if (rc)
				return rc;
			lua_settop(L, top);
		}
		return 0;
	}
	names = bpfmap_map_names(L);
	walk = bpfmap_push_walk(L);
	rc = bpfmap_walk_maps_filtered(walk, names, may_be_candidate, keep_candidate, a);
	lua_pop(L, 1);
	if (rc)
		return bpfmap_fail_cap(L, -rc, BPFMAP_NEED_ADMIN, "apply: list loaded maps");
	return 0;
}

static void push_write_name(lua_State *L, const struct mapwrite *w)
{
	lua_pushfstring(L, "write %s %s=%I", SUFFIX(w), FIELD(w), w->value);
}

/* "prog handle (id 40), prog x (id 41)" for the programs using map_id */
struct users_ctx {
	lua_State *L;
	luaL_Buffer *b;
	__u32 map_id;
	int n;
};

static int add_user(const struct bpf_prog_info *info, const __u32 *map_ids, __u32 n, void *ctx)
{
	struct users_ctx *u = ctx;
	__u32 i;

	for (i = 0; i < n; i++)
		if (map_ids[i] == u->map_id) {
			lua_pushfstring(u->L, "%sprog %s id %d", u->n++ ? ", " : "", info->name,
			                (int)info->id);
			luaL_addvalue(u->b);
			break;
		}
	return 0;
}

static int fail_ambiguous(struct attempt *a, struct mapwrite *w, struct cand **hits, int nhits)
{
	lua_State *L = a->L;
	/* below the buffer, which must stay on top */
	struct bpfmap_walk *walk = bpfmap_push_walk(L);
	luaL_Buffer b;
	int i;

	luaL_buffinit(L, &b);
	push_write_name(L, w);
	luaL_addvalue(&b);
	lua_pushfstring(L, ": %d maps have field '%s'; narrow with opts.map, opts.maps or opts.prog:",
	                nhits, FIELD(w));
	luaL_addvalue(&b);
	for (i = 0; i < nhits; i++) {
		struct users_ctx u = { L, &b, hits[i]->md->info.id, 0 };

		lua_pushfstring(L, "%s %s (id %d, used by ", i ? ";" : "", hits[i]->md->info.name,
		                (int)hits[i]->md->info.id);
		luaL_addvalue(&b);
		bpfmap_walk_progs(walk, add_user, &u);
		luaL_addstring(&b, u.n ? ")" : "no program)");
	}
	luaL_pushresult(&b);
	return bpfmap_fail_msg(L, ENOTUNIQ, lua_tostring(L, -1));
}

/*
 * Whether candidate c can take write w: 0 with the leaf, or a negative errno
 * with the reason in err.  A name that does not match is -ENOENT with an
 * empty reason unless the caller named the map itself.
 */
static int try_candidate(struct attempt *a, struct mapwrite *w, const struct cand *c,
                         struct bpfmap_leaf *leaf, char *err, size_t errlen)
{
	const struct bpf_map_info *info = &c->md->info;
	int rc;

	err[0] = '\0';
	if (!name_ends_with(info->name, SUFFIX(w), w->suffix_len)) {
		if (a->o.map_arg || a->o.maps_arg)
			snprintf(err, errlen, "name does not end in '%s'", SUFFIX(w));
		return -ENOENT;
	}
	if (!in_prog_maps(a, info->id))
		return -ENOENT;
	if (info->type != BPF_MAP_TYPE_ARRAY || info->key_size != 4 || info->max_entries < 1) {
		snprintf(err, errlen, "not an array map");
		return -EINVAL;
	}
	if (!info->btf_id || !info->btf_value_type_id) {
		snprintf(err, errlen, "the map has no BTF");
		return -ENOENT;
	}
	rc = bpfmap_btf_leaf(a->L, info->btf_id, info->btf_value_type_id, FIELD(w), &w->memo,
	                     leaf, err, errlen);
	if (rc == 0 && (__u64)leaf->offset + leaf->size > info->value_size) {
		snprintf(err, errlen, "BTF puts '%s' at %u..%u, past the %u-byte value", FIELD(w),
		         leaf->offset, leaf->offset + leaf->size, info->value_size);
		rc = -EINVAL;
	}
	return rc;
}

/* Phase 2 failed for w: say what was looked for and what each candidate had. */
static int fail_unresolved(struct attempt *a, struct mapwrite *w)
{
	lua_State *L = a->L;
	struct bpfmap_leaf leaf;
	int i, errnum = ENOENT, named = 0, reasons = 0;
	char err[320];
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	push_write_name(L, w);
	luaL_addvalue(&b);
	for (i = 0; i < a->ncand; i++)
		if (name_ends_with(a->cand[i].md->info.name, SUFFIX(w), w->suffix_len) &&
		    in_prog_maps(a, a->cand[i].md->info.id))
			named++;
	if (!named) {
		lua_pushfstring(L, ": no loaded array map whose name ends in '%s'", SUFFIX(w));
		luaL_addvalue(&b);
		describe_narrowing(a, &b);
	} else {
		lua_pushfstring(L, ": no map named '*%s'", SUFFIX(w));
		luaL_addvalue(&b);
		describe_narrowing(a, &b);
		lua_pushfstring(L, " has field '%s'", FIELD(w));
		luaL_addvalue(&b);
	}
	for (i = 0; i < a->ncand; i++) {
		int rc = try_candidate(a, w, &a->cand[i], &leaf, err, sizeof(err));

		if (rc == 0 || !err[0])
			continue;
		/* a wrong-kind answer says more than a missing name */
		if (named && (rc == -EINVAL || (rc != -ENOENT && errnum == ENOENT)))
			errnum = -rc;
		lua_pushfstring(L, "%s%s (id %d): %s", reasons++ ? "; " : " (",
		                a->cand[i].md->info.name, (int)a->cand[i].md->info.id, err);
		luaL_addvalue(&b);
	}
	if (reasons)
		luaL_addchar(&b, ')');
	luaL_pushresult(&b);
	return bpfmap_fail_msg(L, errnum, lua_tostring(L, -1));
}

/* Phase 2 for one write: exactly one candidate must resolve it. */
static int resolve_write(struct attempt *a, int wi)
{
	lua_State *L = a->L;
	struct mapwrite *w = a->w[wi];
	struct cand *hit_small[SMALL], **hits = hit_small;
	struct bpfmap_leaf leaf, first_leaf = { 0 };
	int i, nhits = 0;
	char err[320];

	if (a->ncand > SMALL)
		hits = bpfmap_scratch_zeroed(L, (size_t)a->ncand * sizeof(*hits));
	for (i = 0; i < a->ncand; i++) {
		if (try_candidate(a, w, &a->cand[i], &leaf, err, sizeof(err)))
			continue;
		if (nhits == 0)
			first_leaf = leaf;
		hits[nhits++] = &a->cand[i];
	}
	if (nhits > 1)
		return fail_ambiguous(a, w, hits, nhits);
	if (nhits == 0)
		return fail_unresolved(a, w);
	if (a->ncand > SMALL)
		lua_pop(L, 1);
	a->t[wi].w = w;
	a->t[wi].c = hits[0];
	a->t[wi].leaf = first_leaf;
	a->t[wi].rmw = -1;
	return 0;
}

/* ---- phase 3: checks and preparation ---- */

static int fail_target(struct attempt *a, struct target *t, int err, const char *why)
{
	lua_State *L = a->L;

	push_write_name(L, t->w);
	return bpfmap_fail_field(L, lua_tostring(L, -1), t->c->md, FIELD(t->w), &t->leaf, err, why);
}

static int rmw_buffer(struct attempt *a, struct target *t)
{
	lua_State *L = a->L;
	struct mapdata *md = t->c->md;
	__u32 key = 0;
	int i;

	for (i = 0; i < a->nrmw; i++)
		if (a->rmw[i].md == md)
			return i;
	a->rmw[i].md = md;
	a->rmw[i].orig = bpfmap_scratch_zeroed(L, md->info.value_size);
	anchor(a);
	a->rmw[i].patched = bpfmap_scratch_zeroed(L, md->info.value_size);
	anchor(a);
	if (bpf_map_lookup_elem(md->fd, &key, a->rmw[i].orig))
		return -errno;
	memcpy(a->rmw[i].patched, a->rmw[i].orig, md->info.value_size);
	a->nrmw++;
	return i;
}

static int prepare_target(struct attempt *a, struct target *t)
{
	struct bpfmap_field_store st;
	char why[160];
	/* frozen maps are refused here, before any map of the batch is written */
	int err = bpfmap_field_prepare(t->c->md, &t->leaf, t->w->value, 0, a->o.atomic, true, &st,
	                               why, sizeof(why));

	if (err)
		return fail_target(a, t, err, why);
	t->via_mmap = st.via_mmap;
	t->atomic = st.atomic;
	if (t->via_mmap)
		return 0;
	t->rmw = rmw_buffer(a, t);
	if (t->rmw < 0)
		return fail_target(a, t, -t->rmw, "read of key 0 failed");
	return 0;
}

/* ---- phase 4: stores ---- */

/* Undo every store; returns how many maps could not be restored (each with
 * its restore_err set).  Only updates can fail: stores to a mapping cannot. */
static int rollback(struct attempt *a, int upto)
{
	__u32 key = 0;
	int i, failed = 0;

	for (i = upto - 1; i >= 0; i--)
		if (a->t[i].via_mmap)
			bpfmap_store_field(a->t[i].c->md->mem, &a->t[i].leaf, a->t[i].before);
	for (i = 0; i < a->nrmw; i++)
		if (a->rmw[i].updated &&
		    bpf_map_update_elem(a->rmw[i].md->fd, &key, a->rmw[i].orig, BPF_EXIST)) {
			a->rmw[i].restore_err = errno;
			failed++;
		}
	return failed;
}

/* An update failed with err and the rollback could not restore every map:
 * name those that keep this batch's stores.  The errno is still err. */
static int fail_partial_rollback(struct attempt *a, const struct rmw_buf *r, int err)
{
	lua_State *L = a->L;
	luaL_Buffer b;
	int i, n = 0;

	luaL_buffinit(L, &b);
	lua_pushfstring(L, "apply: update of map '%s' (id %d) failed: %s; the batch was rolled "
	                "back except in ", r->md->info.name, (int)r->md->info.id, strerror(err));
	luaL_addvalue(&b);
	for (i = 0; i < a->nrmw; i++) {
		const struct rmw_buf *u = &a->rmw[i];

		if (!u->restore_err)
			continue;
		lua_pushfstring(L, "%smap '%s' (id %d, restore failed: %s)", n++ ? ", " : "",
		                u->md->info.name, (int)u->md->info.id, strerror(u->restore_err));
		luaL_addvalue(&b);
	}
	luaL_addstring(&b, n > 1 ? ", which keep this batch's stores" :
	                           ", which keeps this batch's stores");
	luaL_pushresult(&b);
	return bpfmap_fail_msg(L, err, lua_tostring(L, -1));
}

static int store_all(struct attempt *a)
{
	lua_State *L = a->L;
	__u32 key = 0;
	int i;

	for (i = 0; i < a->nw; i++) {
		struct target *t = &a->t[i];

		if (t->via_mmap) {
			t->before = bpfmap_load_field(t->c->md->mem, &t->leaf);
			bpfmap_store_field(t->c->md->mem, &t->leaf, t->w->value);
		} else {
			t->before = bpfmap_load_field(a->rmw[t->rmw].orig, &t->leaf);
			bpfmap_store_field(a->rmw[t->rmw].patched, &t->leaf, t->w->value);
		}
	}
	for (i = 0; i < a->nrmw; i++) {
		struct rmw_buf *r = &a->rmw[i];

		if (bpf_map_update_elem(r->md->fd, &key, r->patched, BPF_EXIST)) {
			int err = errno;

			if (rollback(a, a->nw))
				return fail_partial_rollback(a, r, err);
			return bpfmap_fail(L, err, "apply: update of map '%s' (id %d) failed, every "
			                   "store of this batch rolled back", r->md->info.name,
			                   (int)r->md->info.id);
		}
		r->updated = true;
	}
	return 0;
}

/* The report's keys, in the order of apply_once's upvalues: pushing an
 * upvalue and rawset is cheaper than lua_setfield's string lookup, and this
 * runs on every warm apply. */
enum report_key { RK_MAP = 1, RK_MAP_ID, RK_FIELD, RK_OFFSET, RK_SIZE, RK_TYPE, RK_SIGNED,
                  RK_BEFORE, RK_AFTER, RK_METHOD, RK_ATOMIC, RK_MMAP, RK_RMW, RK_COUNT };
static const char *const report_keys[] = {
	NULL, "map", "map_id", "field", "offset", "size", "type", "signed", "before", "after",
	"method", "atomic", "mmap", "rmw",
};

static void set_key(lua_State *L, enum report_key k)
{
	lua_pushvalue(L, lua_upvalueindex(k));
	lua_insert(L, -2);
	lua_rawset(L, -3);
}

static void push_report(struct attempt *a)
{
	lua_State *L = a->L;
	int i;

	lua_createtable(L, a->nw, 0);
	for (i = 0; i < a->nw; i++) {
		struct target *t = &a->t[i];

		lua_createtable(L, 0, RK_COUNT - 3);
		lua_pushstring(L, t->c->md->info.name);
		set_key(L, RK_MAP);
		lua_pushinteger(L, t->c->md->info.id);
		set_key(L, RK_MAP_ID);
		lua_pushlstring(L, FIELD(t->w), t->w->field_len);
		set_key(L, RK_FIELD);
		lua_pushinteger(L, t->leaf.offset);
		set_key(L, RK_OFFSET);
		lua_pushinteger(L, t->leaf.size);
		set_key(L, RK_SIZE);
		lua_pushstring(L, t->leaf.type_name);
		set_key(L, RK_TYPE);
		lua_pushboolean(L, t->leaf.is_signed);
		set_key(L, RK_SIGNED);
		lua_pushinteger(L, t->before);
		set_key(L, RK_BEFORE);
		lua_pushinteger(L, bpfmap_as_stored(&t->leaf, t->w->value));
		set_key(L, RK_AFTER);
		lua_pushvalue(L, lua_upvalueindex(t->via_mmap ? RK_MMAP : RK_RMW));
		set_key(L, RK_METHOD);
		lua_pushboolean(L, t->atomic);
		set_key(L, RK_ATOMIC);
		lua_rawseti(L, -2, i + 1);
	}
}

static void close_owned(struct attempt *a)
{
	int i;

	for (i = 0; i < a->ncand; i++)
		if (a->cand[i].owned)
			bpfmap_mapdata_release(a->cand[i].md);
}

/*
 * One attempt at the whole batch; writes is a list of BpfMapWrite or a
 * single one.  Leaves the report, or nil, message, errno with nothing
 * written, on top and returns their count.  Raises for malformed writes or
 * opts, before any syscall.  *timeout (if given) receives opts.timeout.
 */
static int attempt(lua_State *L, lua_Number *timeout)
{
	struct attempt a;
	lua_Integer i, n;
	struct mapwrite *single;
	int rc = 0;

	memset(&a, 0, sizeof(a));
	a.L = L;
	lua_settop(L, 2);
	single = bpfmap_test_type(L, 1, &bpfmap_mapwrite_key);
	if (!single && lua_type(L, 1) != LUA_TTABLE)
		return bpfmap_arg_error(L, 1, "writes must be a list of BpfMapWrite, got %s",
		                        luaL_typename(L, 1));
	read_opts(L, 2, &a.o);
	lua_pushnil(L);
	a.anchor_idx = lua_gettop(L);
	if (timeout)
		*timeout = a.o.timeout;
	if (!single)
		bpfmap_check_list(L, 1, 1, "writes must be a list of BpfMapWrite");
	n = single ? 1 : (lua_Integer)lua_rawlen(L, 1);
	if (n > INT_MAX / 2)
		return luaL_argerror(L, 1, "too many writes");
	a.nw = (int)n;
	a.w = n <= SMALL ? a.w_small : bpfmap_scratch_zeroed(L, (size_t)n * sizeof(*a.w));
	if (single)
		a.w[0] = single;
	for (i = 1; !single && i <= n; i++) {
		lua_rawgeti(L, 1, i);
		a.w[i - 1] = bpfmap_test_type(L, -1, &bpfmap_mapwrite_key);
		if (!a.w[i - 1])
			bpfmap_arg_error(L, 1, "writes[%d] must be a BpfMapWrite, got %s", (int)i,
			                 luaL_typename(L, -1));
		lua_pop(L, 1);
	}
	if (n == 0) {
		lua_newtable(L);
		return 1;
	}
	a.t = n <= SMALL ? a.t_small : bpfmap_scratch_zeroed(L, (size_t)n * sizeof(*a.t));
	a.rmw = n <= SMALL ? a.rmw_small : bpfmap_scratch_zeroed(L, (size_t)n * sizeof(*a.rmw));
	a.cand = a.cand_small;
	a.cap = SMALL;

	bpfmap_log_clear();
	rc = collect_candidates(&a);
	for (i = 0; !rc && i < n; i++)
		rc = resolve_write(&a, (int)i);
	for (i = 0; !rc && i < n; i++)
		rc = prepare_target(&a, &a.t[i]);
	if (!rc)
		rc = store_all(&a);
	if (!rc) {
		if (a.o.report)
			push_report(&a);
		else
			lua_pushboolean(L, 1);
		rc = 1;
	}
	close_owned(&a);
	return rc;  /* the top rc values; the working state below them is dropped */
}

/* core.apply_once(writes, opts): one attempt, for the retry loop */
static int apply_once(lua_State *L)
{
	return attempt(L, NULL);
}

static const char retry_key = 'r';

/*
 * bpfmap.apply_writes(writes, opts) and w:apply(opts).  In C so that a
 * caller's mistake is reported against the caller's line and this name;
 * only when opts.timeout asks to wait for a missing map or field does it
 * hand over to the Lua retry loop, whose sleeps let a REPL's Ctrl-C in.
 */
static int apply_writes(lua_State *L)
{
	lua_Number timeout = 0;
	int rc = attempt(L, &timeout), top;

	if (rc != 3 || timeout <= 0 || lua_tointeger(L, -1) != ENOENT)
		return rc;
	top = lua_gettop(L);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &retry_key);
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, top - 1);
	lua_call(L, 3, LUA_MULTRET);
	return lua_gettop(L) - top;
}

/* core.set_retry(fn): the Lua loop apply_writes hands a wait over to */
static int set_retry(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &retry_key);
	return 0;
}

static const luaL_Reg mw_methods[] = {
	{ "map_name_suffix", mw_suffix },
	{ "field", mw_field },
	{ "value", mw_value },
	{ NULL, NULL },
};

static const luaL_Reg mw_meta[] = {
	{ "__tostring", mw_tostring },
	{ "__eq", mw_eq },
	{ "__index", NULL },
	{ NULL, NULL },
};

int bpfmap_mapwrite_open(lua_State *L)
{
	int i;

	luaL_newmetatable(L, BPFMAP_MAPWRITE);
	bpfmap_register_type(L, &bpfmap_mapwrite_key);
	luaL_setfuncs(L, mw_meta, 0);
	luaL_newlib(L, mw_methods);
	lua_setfield(L, -2, "__index");
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, mw_new);
	lua_setfield(L, -2, "new");
	lua_getfield(L, -2, "__index");
	lua_setfield(L, -2, "methods");
	lua_setfield(L, -3, "BpfMapWrite");
	lua_pop(L, 1);
	for (i = 1; i < RK_COUNT; i++)
		lua_pushstring(L, report_keys[i]);
	lua_pushcclosure(L, apply_once, RK_COUNT - 1);
	lua_setfield(L, -2, "apply_once");
	for (i = 1; i < RK_COUNT; i++)
		lua_pushstring(L, report_keys[i]);
	lua_pushcclosure(L, apply_writes, RK_COUNT - 1);
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "apply_writes");
	/* w:apply(opts) is apply_writes with the write as its list */
	lua_getfield(L, -2, "BpfMapWrite");
	lua_getfield(L, -1, "methods");
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "apply");
	lua_pop(L, 3);
	lua_pushcfunction(L, set_retry);
	lua_setfield(L, -2, "set_retry");
	return 0;
}
