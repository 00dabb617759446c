/*
 * Object: a compiled BPF object file opened, loaded and attached through
 * libbpf's bpf_object API, with its maps handed out as MapData and its
 * programs as Program (program.c).
 *
 * Lifecycle as in liolib: __gc, __close and close() share one function; a
 * closed Object raises on every method and makes no syscall.  Closing
 * destroys every link the object's programs have (obj:attach()'s and
 * prog:attach()'s), then the object, which unloads its programs; maps live
 * on only through descriptors others hold (a MapData from obj:map() owns a
 * duplicate) and pins.
 */
#include "object.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* Big enough for any verifier log a failing program produces in practice:
 * a log cut by the kernel turns the load's error into ENOSPC. */
#define VERIFIER_LOG_SIZE (8u << 20)
/* Lines of the verifier log quoted in a failed load's message: the end is
 * where the verifier says why. */
#define VERIFIER_LOG_LINES 40

static const char *object_name(const struct object *o)
{
	return bpf_object__name(o->obj);
}

struct object *bpfmap_check_object(lua_State *L, int idx, const char *what)
{
	struct object *o = luaL_checkudata(L, idx, BPFMAP_OBJECT);

	if (!o->obj)
		luaL_error(L, "%s: closed object", what);
	return o;
}

void bpfmap_object_require_loaded(lua_State *L, struct object *o, const char *what)
{
	if (!o->loaded)
		luaL_error(L, "%s: object not loaded", what);
}

static void object_release(lua_State *L, int idx, struct object *o)
{
	int i;

	if (!o->obj)
		return;
	lua_getiuservalue(L, idx, OBJECT_UV_LINKS);
	bpfmap_links_destroy(L, -1);
	lua_pop(L, 1);
	for (i = 0; i < o->nprogs; i++)
		bpf_link__destroy(o->links[i]);
	free(o->links);
	o->links = NULL;
	bpf_object__close(o->obj);
	o->obj = NULL;
	o->loaded = false;
}

/* nil, "<what>: <cause>", errno.  libbpf's own error codes (LIBBPF_ERRNO__*)
 * are not errnos: they are said in libbpf's words and returned as EINVAL,
 * which callers can compare. */
static int fail_libbpf(lua_State *L, int err, const char *fmt, ...)
{
	char words[128];
	va_list ap;

	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	if (err >= __LIBBPF_ERRNO__START) {
		libbpf_strerror(err, words, sizeof(words));
		lua_pushfstring(L, "%s (%s)", lua_tostring(L, -1), words);
		lua_remove(L, -2);
		err = EINVAL;
	}
	bpfmap_fail_cap(L, err, BPFMAP_NEED_BPF, "%s", lua_tostring(L, -1));
	lua_remove(L, -4);
	return 3;
}

static const char *const open_opts[] = { "name", "pin_root_path", "kconfig", NULL };

/* Object.open(path [, opts]) */
static int obj_open(lua_State *L)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	const char *path = bpfmap_check_path_arg(L, 1, "path");
	struct bpf_program *prog;
	struct object *o;
	int err;

	if (bpfmap_check_opt_keys(L, 2, open_opts)) {
		opts.object_name = bpfmap_opt_field_string(L, 2, "name", NULL);
		opts.pin_root_path = bpfmap_opt_field_string(L, 2, "pin_root_path", NULL);
		opts.kconfig = bpfmap_opt_field_string(L, 2, "kconfig", NULL);
	}

	o = lua_newuserdatauv(L, sizeof(*o), OBJECT_NUV);
	memset(o, 0, sizeof(*o));
	luaL_setmetatable(L, BPFMAP_OBJECT);
	lua_newtable(L);
	lua_setiuservalue(L, -2, OBJECT_UV_PROGRAMS);
	lua_newtable(L);
	lua_newtable(L);
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_setiuservalue(L, -2, OBJECT_UV_LINKS);

	bpfmap_log_clear();
	o->obj = bpf_object__open_file(path, &opts);
	if (!o->obj) {
		err = errno;
		lua_pop(L, 1);
		return fail_libbpf(L, err, "open BPF object %s", path);
	}
	bpf_object__for_each_program(prog, o->obj)
		o->nprogs++;
	o->links = calloc((size_t)o->nprogs + 1, sizeof(*o->links));
	if (!o->links) {
		bpf_object__close(o->obj);
		o->obj = NULL;
		lua_pop(L, 1);
		return bpfmap_fail(L, ENOMEM, "open BPF object %s", path);
	}
	bpfmap_log_clear();
	return 1;
}

/* Append the last VERIFIER_LOG_LINES lines of log to the string at msg. */
static void add_verifier_log(lua_State *L, int msg, const char *log)
{
	size_t len = strlen(log), lines = 1, newlines = 0, shown;
	const char *start;
	luaL_Buffer b;

	while (len && (log[len - 1] == '\n' || log[len - 1] == ' '))
		len--;
	if (!len)
		return;
	for (size_t i = 0; i < len; i++)
		lines += log[i] == '\n';
	for (start = log + len; start > log; start--)
		if (start[-1] == '\n' && ++newlines == VERIFIER_LOG_LINES)
			break;
	shown = start == log ? lines : newlines;
	luaL_buffinit(L, &b);
	lua_pushvalue(L, msg);
	luaL_addvalue(&b);
	if (shown < lines)
		lua_pushfstring(L, "\nverifier log (cut: the last %d of %d lines):\n", (int)shown,
		                (int)lines);
	else
		lua_pushliteral(L, "\nverifier log:\n");
	luaL_addvalue(&b);
	luaL_addlstring(&b, start, len - (size_t)(start - log));
	luaL_pushresult(&b);
	lua_replace(L, msg);
}

/* The program libbpf named as failing ("prog 'x': BPF program load failed"). */
static void failed_program(const char *said, char *name, size_t len)
{
	static const char tail[] = "': BPF program load failed";
	const char *end = strstr(said, tail), *start;

	name[0] = '\0';
	if (!end)
		return;
	for (start = end; start > said && start[-1] != '\''; start--)
		;
	if (start > said && (size_t)(end - start) < len)
		snprintf(name, len, "%.*s", (int)(end - start), start);
}

/* obj:load() */
static int obj_load(lua_State *L)
{
	struct object *o = bpfmap_check_object(L, 1, "Object.load");
	struct bpf_program *prog;
	char *log, prog_name[64];
	int err, top;

	if (o->loaded)
		return luaL_error(L, "Object.load: object '%s' already loaded", object_name(o));
	if (o->load_tried)
		return luaL_error(L, "Object.load: object '%s' failed to load once; libbpf cannot "
		                  "retry, open it again", object_name(o));
	/* a userdata, so that a raise cannot leak it */
	log = lua_newuserdatauv(L, VERIFIER_LOG_SIZE, 0);
	log[0] = '\0';
	/* libbpf loads without a log first and asks for one only on failure,
	 * so a shared buffer ends up holding the failing program's log */
	bpf_object__for_each_program(prog, o->obj)
		bpf_program__set_log_buf(prog, log, VERIFIER_LOG_SIZE);
	bpfmap_log_clear();
	o->load_tried = true;
	err = bpf_object__load(o->obj);
	bpf_object__for_each_program(prog, o->obj)
		bpf_program__set_log_buf(prog, NULL, 0);
	if (!err) {
		o->loaded = true;
		bpfmap_log_clear();
		lua_pushboolean(L, 1);
		return 1;
	}
	failed_program(bpfmap_log_text(), prog_name, sizeof(prog_name));
	if (prog_name[0])
		fail_libbpf(L, -err, "load object '%s' (program '%s')", object_name(o), prog_name);
	else
		fail_libbpf(L, -err, "load object '%s'", object_name(o));
	top = lua_gettop(L);
	add_verifier_log(L, top - 1, log);
	return 3;
}

/* Auto-attach one program as libbpf's skeleton does: a program whose
 * section names no attach point (xdp, socket, a bare kprobe, ...) or whose
 * autoattach is off is left alone (*link stays NULL).  0 or negative errno. */
static int auto_attach(struct bpf_program **prog, struct bpf_link **link)
{
	struct bpf_prog_skeleton ps = { bpf_program__name(*prog), prog, link };
	struct bpf_object_skeleton s = {
		.sz = sizeof(s),
		.prog_cnt = 1,
		.prog_skel_sz = sizeof(ps),
		.progs = &ps,
	};
	int err = bpf_object__attach_skeleton(&s);

	return err < 0 ? err : 0;
}

/* obj:attach() */
static int obj_attach(lua_State *L)
{
	struct object *o = bpfmap_check_object(L, 1, "Object.attach");
	struct bpf_link **fresh;
	struct bpf_program *prog, *failed = NULL;
	int i = 0, err = 0;

	bpfmap_object_require_loaded(L, o, "Object.attach");
	/* which links this call made, so a refusal undoes only those */
	fresh = lua_newuserdatauv(L, sizeof(*fresh) * ((size_t)o->nprogs + 1), 0);
	memset(fresh, 0, sizeof(*fresh) * ((size_t)o->nprogs + 1));
	bpfmap_log_clear();
	bpf_object__for_each_program(prog, o->obj) {
		struct bpf_program *p = prog;

		if (i >= o->nprogs)
			break;
		if (!o->links[i] && bpf_program__autoload(prog)) {
			err = auto_attach(&p, &fresh[i]);
			if (err) {
				failed = prog;
				break;
			}
			o->links[i] = fresh[i];
		}
		i++;
	}
	if (!failed) {
		bpfmap_log_clear();
		lua_pushboolean(L, 1);
		return 1;
	}
	for (i = 0; i < o->nprogs; i++)
		if (fresh[i]) {
			bpf_link__destroy(fresh[i]);
			o->links[i] = NULL;
		}
	{
		const char *section = bpf_program__section_name(failed);
		const char *hint = bpfmap_tracefs_hint(section);

		return fail_libbpf(L, -err, "attach program '%s' (section %s) of object '%s'%s",
		                   bpf_program__name(failed), section, object_name(o),
		                   hint ? hint : "");
	}
}

/* The ELF section a map was made from (".bss", ".data.x"), or NULL for a
 * map a program declared: libbpf names internal maps "<obj prefix><section>"
 * and types their value with a DATASEC named after the section. */
static const char *map_section(const struct object *o, const struct bpf_map *map)
{
	const struct btf *btf = bpf_object__btf(o->obj);
	const struct btf_type *t;
	const char *name;

	if (!bpf_map__is_internal(map))
		return NULL;
	if (btf) {
		t = btf__type_by_id(btf, bpf_map__btf_value_type_id(map));
		if (t && btf_is_datasec(t))
			return btf__name_by_offset(btf, t->name_off);
	}
	name = bpf_map__name(map);
	return strchr(name, '.');
}

/* Push a MapData owning a duplicate of map's descriptor (1), or nil,
 * message, errno (3). */
static int push_map(lua_State *L, const struct object *o, const struct bpf_map *map)
{
	struct mapdata *md = bpfmap_new_mapdata(L);
	char what[128];
	int fd = bpf_map__fd(map);

	md->fd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (md->fd < 0) {
		int err = fd < 0 ? EBADF : errno;

		md->fd = -1;
		lua_pop(L, 1);
		return bpfmap_fail(L, err, "map '%s' of object '%s'", bpf_map__name(map),
		                   object_name(o));
	}
	snprintf(what, sizeof(what), "map '%s' of object '%s'", bpf_map__name(map), object_name(o));
	return bpfmap_adopt_mapdata(L, md, what);
}

/* The kernel's name of a map: libbpf's, cut to 15 bytes and sanitised. */
static bool kernel_name_is(lua_State *L, const struct bpf_map *map, int name)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len) == 0 &&
	       bpfmap_is_string(L, name, info.name);
}

/* obj:map(name) */
static int obj_map(lua_State *L)
{
	struct object *o = bpfmap_check_object(L, 1, "Object.map");
	struct bpf_map *map;
	int pass;

	if (lua_type(L, 2) != LUA_TSTRING)
		bpfmap_arg_error(L, 2, "name must be a string, got %s", luaL_typename(L, 2));
	bpfmap_object_require_loaded(L, o, "Object.map");
	/* names the object gives before the kernel's, which may be cut short */
	for (pass = 0; pass < 2; pass++)
		bpf_object__for_each_map(map, o->obj) {
			const char *section = map_section(o, map);

			if (pass == 0 ? bpfmap_is_string(L, 2, bpf_map__name(map)) ||
			                (section && bpfmap_is_string(L, 2, section))
			              : kernel_name_is(L, map, 2))
				return push_map(L, o, map);
		}
	return bpfmap_fail_msg(L, ENOENT,
	                       lua_pushfstring(L, "map '%s' of object '%s': no such map",
	                                       bpfmap_show(L, 2), object_name(o)));
}

/* obj:maps() */
static int obj_maps(lua_State *L)
{
	struct object *o = bpfmap_check_object(L, 1, "Object.maps");
	struct bpf_map *map;

	bpfmap_object_require_loaded(L, o, "Object.maps");
	lua_newtable(L);
	bpf_object__for_each_map(map, o->obj) {
		if (push_map(L, o, map) != 1)
			return 3;
		lua_setfield(L, -2, bpf_map__name(map));
	}
	return 1;
}

/* obj:programs() */
static int obj_programs(lua_State *L)
{
	struct object *o = bpfmap_check_object(L, 1, "Object.programs");
	struct bpf_program *prog;

	lua_newtable(L);
	bpf_object__for_each_program(prog, o->obj) {
		bpfmap_push_program(L, 1, prog);
		lua_setfield(L, -2, bpf_program__name(prog));
	}
	return 1;
}

/* obj:program(name) */
static int obj_program(lua_State *L)
{
	struct object *o = bpfmap_check_object(L, 1, "Object.program");
	const char *name;
	size_t len;
	struct bpf_program *prog;

	if (lua_type(L, 2) != LUA_TSTRING)
		bpfmap_arg_error(L, 2, "name must be a string, got %s", luaL_typename(L, 2));
	name = lua_tolstring(L, 2, &len);
	prog = strlen(name) == len ? bpf_object__find_program_by_name(o->obj, name) : NULL;
	if (!prog)
		return bpfmap_fail_msg(L, ENOENT,
		                       lua_pushfstring(L, "program '%s' of object '%s': no such program",
		                                       bpfmap_show(L, 2), object_name(o)));
	bpfmap_push_program(L, 1, prog);
	return 1;
}

/* obj:pin_maps(dir) */
static int obj_pin_maps(lua_State *L)
{
	struct object *o = bpfmap_check_object(L, 1, "Object.pin_maps");
	const char *dir = bpfmap_check_path_arg(L, 2, "dir");
	struct statfs st;
	int err;

	bpfmap_object_require_loaded(L, o, "Object.pin_maps");
	bpfmap_log_clear();
	err = bpf_object__pin_maps(o->obj, dir);
	if (!err) {
		bpfmap_log_clear();
		lua_pushboolean(L, 1);
		return 1;
	}
	err = -err;
	/* the kernel answers EPERM for a path outside bpffs: say so */
	if (statfs(dir, &st) == 0 && st.f_type != BPF_FS_MAGIC)
		return bpfmap_fail(L, err, "pin maps of object '%s' in %s (%s is not on a bpf "
		                   "filesystem)", object_name(o), dir, dir);
	return bpfmap_fail(L, err, "pin maps of object '%s' in %s", object_name(o), dir);
}

/* obj:name() */
static int obj_name(lua_State *L)
{
	lua_pushstring(L, object_name(bpfmap_check_object(L, 1, "Object.name")));
	return 1;
}

/* obj:loaded() */
static int obj_loaded(lua_State *L)
{
	lua_pushboolean(L, bpfmap_check_object(L, 1, "Object.loaded")->loaded);
	return 1;
}

static int obj_close(lua_State *L)
{
	struct object *o = luaL_checkudata(L, 1, BPFMAP_OBJECT);

	object_release(L, 1, o);
	lua_pushboolean(L, 1);
	return 1;
}

static int obj_tostring(lua_State *L)
{
	struct object *o = luaL_checkudata(L, 1, BPFMAP_OBJECT);
	struct bpf_map *map;
	int nmaps = 0;

	if (!o->obj) {
		lua_pushliteral(L, "Object (closed)");
		return 1;
	}
	bpf_object__for_each_map(map, o->obj)
		nmaps++;
	lua_pushfstring(L, "Object '%s' (%s, %d program%s, %d map%s)", object_name(o),
	                o->loaded ? "loaded" : o->load_tried ? "load failed" : "not loaded",
	                o->nprogs, o->nprogs == 1 ? "" : "s", nmaps, nmaps == 1 ? "" : "s");
	return 1;
}

static const luaL_Reg obj_methods[] = {
	{ "load", obj_load },
	{ "attach", obj_attach },
	{ "map", obj_map },
	{ "maps", obj_maps },
	{ "program", obj_program },
	{ "programs", obj_programs },
	{ "pin_maps", obj_pin_maps },
	{ "name", obj_name },
	{ "loaded", obj_loaded },
	{ "close", obj_close },
	{ NULL, NULL },
};

int bpfmap_object_open(lua_State *L)
{
	bpfmap_new_type(L, BPFMAP_OBJECT, obj_methods, obj_close, obj_tostring);
	bpfmap_program_open(L);
	lua_newtable(L);
	lua_pushcfunction(L, obj_open);
	lua_setfield(L, -2, "open");
	luaL_getmetatable(L, BPFMAP_OBJECT);
	lua_getfield(L, -1, "__index");
	lua_setfield(L, -3, "methods");
	lua_pop(L, 1);
	lua_setfield(L, -2, "Object");
	return 0;
}
