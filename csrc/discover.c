/*
 * Walking what the kernel has loaded: every map (bpfmap.loaded_maps(), like
 * aya's loaded_maps()) and every program with the maps it uses.  A map or
 * program that goes away between "next id" and "open by id" is skipped, as
 * bpftool does: the walk is of a live, shared system.
 */
#include "bpfmap.h"
#include "discover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

/*
 * Open map id (close-on-exec, the caller owns fd) and read its info.
 * Returns 0, 1 if the map went away since its id was listed, or a negative
 * errno with *step naming what failed ("open map id", "info of map id");
 * *fd is -1 unless it returns 0.
 */
static int open_map(__u32 id, int *fd, struct bpf_map_info *info, const char **step)
{
	__u32 len = sizeof(*info);
	int err;

	*step = "open map id";
	*fd = bpf_map_get_fd_by_id(id);
	if (*fd < 0) {
		*fd = -1;
		return errno == ENOENT ? 1 : -errno;
	}
	*step = "info of map id";
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(*fd, info, &len)) {
		err = -errno;
		close(*fd);
		*fd = -1;
		return err;
	}
	return 0;
}

/*
 * One step of the walk over loaded maps: the first map after *id that is
 * still there, opened with its info.  Returns 0, 1 at the end of the walk,
 * or a negative errno with *step naming what failed ("next map id after",
 * or open_map's; *id is then the id it failed on).
 */
static int next_map(__u32 *id, int *fd, struct bpf_map_info *info, const char **step)
{
	int rc;

	do {
		*step = "next map id after";
		if (bpf_map_get_next_id(*id, id))
			return errno == ENOENT ? 1 : -errno;
	} while ((rc = open_map(*id, fd, info, step)) == 1);
	return rc;
}

/* ---- the resources of a walk ---- */

/* A walk's new list of names, built in id order as the walk goes. */
struct name_list {
	struct bpfmap_map_name *e;
	__u32 n, cap;
	bool failed;   /* out of memory: remember nothing new, lose nothing */
};

struct bpfmap_walk {
	int fd;                        /* handed to a callback, or -1 */
	__u32 *map_ids;                /* a program's map ids */
	__u32 map_ids_cap;
	struct bpfmap_map_name *old;   /* names' list, taken for the walk */
	__u32 nold;
	struct name_list seen;
};

static const char walk_key = 'k';

static void release_fd(struct bpfmap_walk *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

static void release_buffers(struct bpfmap_walk *w)
{
	free(w->map_ids);
	w->map_ids = NULL;
	w->map_ids_cap = 0;
	free(w->old);
	w->old = NULL;
	w->nold = 0;
	free(w->seen.e);
	memset(&w->seen, 0, sizeof(w->seen));
}

static int walk_close(lua_State *L)
{
	struct bpfmap_walk *w = lua_touserdata(L, 1);

	release_fd(w);
	release_buffers(w);
	return 0;
}

struct bpfmap_walk *bpfmap_push_walk(lua_State *L)
{
	struct bpfmap_walk *w = lua_newuserdatauv(L, sizeof(*w), 0);

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &walk_key);
	lua_setmetatable(L, -2);
	return w;
}

int bpfmap_walk_maps(struct bpfmap_walk *w, bpfmap_map_fn fn, void *ctx)
{
	struct bpf_map_info info;
	const char *step;
	__u32 id = 0;
	int rc;

	while ((rc = next_map(&id, &w->fd, &info, &step)) == 0) {
		rc = fn(&w->fd, &info, ctx);
		release_fd(w);
		if (rc)
			return rc > 0 ? 0 : rc;
	}
	return rc > 0 ? 0 : rc;
}

/* ---- the names of maps already seen ---- */

static const char names_key = 'n';

static int names_gc(lua_State *L)
{
	struct bpfmap_map_names *names = lua_touserdata(L, 1);

	free(names->e);
	names->e = NULL;
	names->n = 0;
	return 0;
}

struct bpfmap_map_names *bpfmap_map_names(lua_State *L)
{
	struct bpfmap_map_names *names;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &names_key) == LUA_TUSERDATA) {
		names = lua_touserdata(L, -1);
		lua_pop(L, 1);
		return names;
	}
	lua_pop(L, 1);
	names = lua_newuserdatauv(L, sizeof(*names), 0);
	memset(names, 0, sizeof(*names));
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, names_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &names_key);
	return names;
}

static void remember(struct name_list *l, __u32 id, const char *name)
{
	if (l->failed)
		return;
	if (l->n == l->cap) {
		__u32 cap = l->cap ? l->cap * 2 : 256;
		struct bpfmap_map_name *grown = realloc(l->e, cap * sizeof(*grown));

		if (!grown) {
			l->failed = true;
			return;
		}
		l->e = grown;
		l->cap = cap;
	}
	l->e[l->n].id = id;
	memcpy(l->e[l->n].name, name, BPF_OBJ_NAME_LEN);
	l->e[l->n].name[BPF_OBJ_NAME_LEN - 1] = '\0';
	l->n++;
}

int bpfmap_walk_maps_filtered(struct bpfmap_walk *w, struct bpfmap_map_names *names,
                              bpfmap_map_filter want, bpfmap_map_fn fn, void *ctx)
{
	struct name_list *seen = &w->seen;
	struct bpf_map_info info;
	__u32 id = 0, old = 0;
	bool ended = false;   /* walked to the last id: names beyond it are gone */
	int rc = 0;

	/* ours until the end: a nested walk starts from nothing, frees nothing */
	w->old = names->e;
	w->nold = names->n;
	names->e = NULL;
	names->n = 0;
	for (;;) {
		const char *known = NULL, *step;

		if (bpf_map_get_next_id(id, &id)) {
			ended = errno == ENOENT;
			rc = ended ? 0 : -errno;
			break;
		}
		/* both lists are in ascending id order */
		while (old < w->nold && w->old[old].id < id)
			old++;
		if (old < w->nold && w->old[old].id == id)
			known = w->old[old].name;
		if (known) {
			remember(seen, id, known);
			if (!want(id, known, ctx))
				continue;
		} else if (!want(id, NULL, ctx)) {
			continue;
		}
		rc = open_map(id, &w->fd, &info, &step);
		if (rc == 1)
			continue;
		if (rc)
			break;
		if (!known)
			remember(seen, id, info.name);
		if (want(id, info.name, ctx))
			rc = fn(&w->fd, &info, ctx);
		release_fd(w);
		if (rc) {
			rc = rc > 0 ? 0 : rc;
			break;
		}
	}
	/* a walk cut short keeps what the last one knew beyond where it stopped */
	for (; !ended && old < w->nold; old++)
		if (w->old[old].id > id)
			remember(seen, w->old[old].id, w->old[old].name);
	/* a nested walk's list is older than ours: ours replaces it */
	if (!seen->failed) {
		free(names->e);
		names->e = seen->e;
		names->n = seen->n;
		seen->e = NULL;
	} else if (!names->e) {
		names->e = w->old;
		names->n = w->nold;
		w->old = NULL;
	}
	release_buffers(w);
	return rc;
}

int bpfmap_walk_progs(struct bpfmap_walk *w, bpfmap_prog_fn fn, void *ctx)
{
	__u32 id = 0;
	int rc = 0;

	for (;;) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info), n;
		int fd;

		if (bpf_prog_get_next_id(id, &id)) {
			rc = errno == ENOENT ? 0 : -errno;
			break;
		}
		fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			rc = -errno;
			break;
		}
		/* first ask how many maps, then fetch their ids */
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			rc = -errno;
			close(fd);
			break;
		}
		n = info.nr_map_ids;
		if (n > w->map_ids_cap) {
			/* malloc'd, not Lua's: growing cannot raise with fd open */
			__u32 *grown = realloc(w->map_ids, n * sizeof(*grown));

			if (!grown) {
				rc = -ENOMEM;
				close(fd);
				break;
			}
			w->map_ids = grown;
			w->map_ids_cap = n;
		}
		if (n) {
			memset(&info, 0, sizeof(info));
			info.nr_map_ids = n;
			info.map_ids = (__u64)(unsigned long)w->map_ids;
			len = sizeof(info);
			if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
				rc = -errno;
				close(fd);
				break;
			}
			/* maps can only be added to a loaded program, never removed */
			if (info.nr_map_ids < n)
				n = info.nr_map_ids;
		}
		close(fd);
		/* fn may raise: then the walk's __gc frees map_ids */
		rc = fn(&info, w->map_ids, n, ctx);
		if (rc) {
			rc = rc > 0 ? 0 : rc;
			break;
		}
	}
	release_buffers(w);
	return rc;
}

/* ---- Lua: bpfmap.loaded_maps(), bpfmap.list_maps(), bpfmap.list_programs() ---- */

/* The iterator: upvalue 1 is the last id returned, upvalue 2 the walk
 * that holds the descriptor while its MapInfo is made.  A for loop has no
 * place for nil, message, errno, so a failure raises the message. */
static int loaded_maps_next(lua_State *L)
{
	__u32 id = (__u32)lua_tointeger(L, lua_upvalueindex(1));
	struct bpfmap_walk *w = lua_touserdata(L, lua_upvalueindex(2));
	struct bpf_map_info info;
	const char *step;
	int rc;

	release_fd(w);   /* left by a call that raised */
	rc = next_map(&id, &w->fd, &info, &step);
	if (rc > 0)
		return 0;
	if (rc < 0) {
		bpfmap_fail_cap(L, -rc, BPFMAP_NEED_ADMIN, "loaded_maps: %s %d", step, (int)id);
		lua_pop(L, 1);
		return lua_error(L);
	}
	bpfmap_push_mapinfo(L, &info, w->fd);
	release_fd(w);
	lua_pushinteger(L, id);
	lua_replace(L, lua_upvalueindex(1));
	return 1;
}

/* for info in bpfmap.loaded_maps() do ... end: raises on failure, as
 * io.lines does, since a for loop has no place for nil, message, errno. */
static int loaded_maps(lua_State *L)
{
	lua_pushinteger(L, 0);
	bpfmap_push_walk(L);
	lua_pushcclosure(L, loaded_maps_next, 2);
	return 1;
}

struct list_ctx {
	lua_State *L;
	int n;
};

static int list_one_map(int *fd, const struct bpf_map_info *info, void *ctx)
{
	struct list_ctx *lc = ctx;

	bpfmap_push_mapinfo(lc->L, info, *fd);
	lua_rawseti(lc->L, -2, ++lc->n);
	return 0;
}

/* bpfmap.list_maps(): a list of MapInfo, or nil, message, errno */
static int list_maps(lua_State *L)
{
	struct list_ctx lc = { L, 0 };
	struct bpfmap_walk *w = bpfmap_push_walk(L);
	int rc;

	lua_newtable(L);
	rc = bpfmap_walk_maps(w, list_one_map, &lc);
	if (rc)
		return bpfmap_fail_cap(L, -rc, BPFMAP_NEED_ADMIN, "list_maps");
	return 1;
}

static int list_one_prog(const struct bpf_prog_info *info, const __u32 *map_ids, __u32 n,
                         void *ctx)
{
	struct list_ctx *lc = ctx;
	lua_State *L = lc->L;
	__u32 i;

	lua_createtable(L, 0, 4);
	lua_pushinteger(L, info->id);
	lua_setfield(L, -2, "id");
	lua_pushstring(L, info->name);
	lua_setfield(L, -2, "name");
	lua_pushinteger(L, info->type);
	lua_setfield(L, -2, "type_id");
	lua_createtable(L, (int)n, 0);
	for (i = 0; i < n; i++) {
		lua_pushinteger(L, map_ids[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "map_ids");
	lua_rawseti(L, -2, ++lc->n);
	return 0;
}

/* bpfmap.list_programs(): { {id=, name=, type_id=, map_ids={...}}, ... } */
static int list_programs(lua_State *L)
{
	struct list_ctx lc = { L, 0 };
	struct bpfmap_walk *w = bpfmap_push_walk(L);
	int rc;

	lua_newtable(L);
	rc = bpfmap_walk_progs(w, list_one_prog, &lc);
	if (rc)
		return bpfmap_fail_cap(L, -rc, BPFMAP_NEED_ADMIN, "list_programs");
	return 1;
}

static const luaL_Reg funcs[] = {
	{ "loaded_maps", loaded_maps },
	{ "list_maps", list_maps },
	{ "list_programs", list_programs },
	{ NULL, NULL },
};

int bpfmap_discover_open(lua_State *L)
{
	luaL_newmetatable(L, "bpfmap.walk");
	lua_pushcfunction(L, walk_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, walk_close);
	lua_setfield(L, -2, "__close");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &walk_key);
	luaL_setfuncs(L, funcs, 0);
	return 0;
}
