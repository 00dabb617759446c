/*
 * Program and Link: the programs of an Object (object.c) and what
 * prog:attach() makes of them.
 *
 * A Program is a view into its Object's libbpf state, so it keeps the
 * Object alive (user value) and raises once the Object is closed, when that
 * state is gone.  A Link keeps its Object alive too, and is destroyed when
 * it is collected, by link:destroy(), or by obj:close(): closing an object
 * detaches everything its programs are attached to, so that no program of
 * it stays in the kernel behind the caller's back.
 */
#include "object.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif
/* The kernel's internal "not supported", which BPF_PROG_TEST_RUN returns
 * for program types that have no test run. */
#define ENOTSUPP 524

struct program {
	struct bpf_program *prog;
};

struct link {
	struct bpf_link *link;     /* NULL once destroyed */
	char what[160];            /* "program 'x' (section s)", for messages */
};

/* The Program at idx and its open Object, raising "<what>: closed object". */
static struct program *check_program(lua_State *L, int idx, const char *what,
                                     struct object **op)
{
	struct program *p = luaL_checkudata(L, idx, BPFMAP_PROGRAM);
	struct object *o;

	lua_getiuservalue(L, idx, 1);
	o = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (!o || !o->obj)
		luaL_error(L, "%s: closed object", what);
	if (op)
		*op = o;
	return p;
}

void bpfmap_push_program(lua_State *L, int objidx, struct bpf_program *prog)
{
	struct program *p;

	objidx = lua_absindex(L, objidx);
	lua_getiuservalue(L, objidx, OBJECT_UV_PROGRAMS);
	if (lua_rawgetp(L, -1, prog) != LUA_TNIL) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	p = lua_newuserdatauv(L, sizeof(*p), 1);
	p->prog = prog;
	luaL_setmetatable(L, BPFMAP_PROGRAM);
	lua_pushvalue(L, objidx);
	lua_setiuservalue(L, -2, 1);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, -3, prog);
	lua_remove(L, -2);
}

const char *bpfmap_tracefs_hint(const char *section)
{
	struct statfs st;

	if (strncmp(section, "tp/", 3) != 0 && strncmp(section, "tracepoint/", 11) != 0)
		return NULL;
	/* libbpf 1.1 reads tracepoint ids under debugfs's tracing/ when that
	 * exists, else under /sys/kernel/tracing */
	if (access("/sys/kernel/debug/tracing", F_OK) == 0)
		return NULL;
	if (statfs("/sys/kernel/tracing", &st) == 0 && st.f_type == TRACEFS_MAGIC)
		return NULL;
	return " (tracefs is not mounted at /sys/kernel/tracing: "
	       "mount -t tracefs nodev /sys/kernel/tracing)";
}

/* prog:name() */
static int prog_name(lua_State *L)
{
	lua_pushstring(L, bpf_program__name(check_program(L, 1, "Program.name", NULL)->prog));
	return 1;
}

/* prog:section() */
static int prog_section(lua_State *L)
{
	struct program *p = check_program(L, 1, "Program.section", NULL);

	lua_pushstring(L, bpf_program__section_name(p->prog));
	return 1;
}

/* prog:type(): libbpf's name of the program type ("tracepoint", "xdp") */
static int prog_type(lua_State *L)
{
	struct program *p = check_program(L, 1, "Program.type", NULL);
	const char *name = libbpf_bpf_prog_type_str(bpf_program__type(p->prog));

	if (name)
		lua_pushstring(L, name);
	else
		lua_pushinteger(L, bpf_program__type(p->prog));
	return 1;
}

/* prog:set_autoload(bool): whether load() loads it; libbpf fixes it then */
static int prog_set_autoload(lua_State *L)
{
	struct object *o;
	struct program *p = check_program(L, 1, "Program.set_autoload", &o);

	luaL_checktype(L, 2, LUA_TBOOLEAN);
	if (o->load_tried)
		return luaL_error(L, "Program.set_autoload: object already loaded");
	bpf_program__set_autoload(p->prog, lua_toboolean(L, 2));
	lua_pushboolean(L, 1);
	return 1;
}

/* prog:set_autoattach(bool): whether obj:attach() attaches it */
static int prog_set_autoattach(lua_State *L)
{
	struct program *p = check_program(L, 1, "Program.set_autoattach", NULL);

	luaL_checktype(L, 2, LUA_TBOOLEAN);
	bpf_program__set_autoattach(p->prog, lua_toboolean(L, 2));
	lua_pushboolean(L, 1);
	return 1;
}

static struct program *check_loaded(lua_State *L, const char *what)
{
	struct object *o;
	struct program *p = check_program(L, 1, what, &o);

	bpfmap_object_require_loaded(L, o, what);
	return p;
}

/* prog:fd(): the object's descriptor, valid until obj:close() */
static int prog_fd(lua_State *L)
{
	lua_pushinteger(L, bpf_program__fd(check_loaded(L, "Program.fd")->prog));
	return 1;
}

/* prog:id() */
static int prog_id(lua_State *L)
{
	struct program *p = check_loaded(L, "Program.id");
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p->prog), &info, &len))
		return bpfmap_fail(L, errno, "id of program '%s'", bpf_program__name(p->prog));
	lua_pushinteger(L, info.id);
	return 1;
}

static void describe(char *buf, size_t len, const struct bpf_program *prog)
{
	snprintf(buf, len, "program '%s' (section %s)", bpf_program__name(prog),
	         bpf_program__section_name(prog));
}

/* prog:attach() -> Link */
static int prog_attach(lua_State *L)
{
	struct program *p = check_loaded(L, "Program.attach");
	struct link *l;
	int err;

	l = lua_newuserdatauv(L, sizeof(*l), 1);
	l->link = NULL;
	describe(l->what, sizeof(l->what), p->prog);
	luaL_setmetatable(L, BPFMAP_LINK);
	lua_getiuservalue(L, 1, 1);
	/* the object's set of links, so that obj:close() destroys this one */
	lua_getiuservalue(L, -1, OBJECT_UV_LINKS);
	lua_pushvalue(L, -3);
	lua_pushboolean(L, 1);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	lua_setiuservalue(L, -2, 1);

	bpfmap_log_clear();
	l->link = bpf_program__attach(p->prog);
	if (l->link) {
		bpfmap_log_clear();
		return 1;
	}
	err = errno;
	/* libbpf says nothing when the section has no attach function, and
	 * why when the kernel refused */
	if (err == EOPNOTSUPP && !*bpfmap_log_text())
		return bpfmap_fail_msg(L, err, lua_pushfstring(L, "attach %s: libbpf knows no attach "
		                                              "point for this section", l->what));
	{
		const char *hint = bpfmap_tracefs_hint(bpf_program__section_name(p->prog));

		return bpfmap_fail_cap(L, err, BPFMAP_NEED_BPF, "attach %s%s", l->what,
		                       hint ? hint : "");
	}
}

static const char *const run_opts[] = {
	"data_in", "ctx_in", "data_size_out", "ctx_size_out", "repeat", "flags", "cpu", NULL,
};

/* prog:run([opts]) -> { retval, duration, data_out, ctx_out } */
static int prog_run(lua_State *L)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	struct program *p = check_loaded(L, "Program.run");
	lua_Integer data_size_out = -1, ctx_size_out = -1, v;
	size_t data_len = 0, ctx_len = 0;
	void *data_out = NULL, *ctx_out = NULL;
	char what[160];
	int err;

	if (bpfmap_check_opt_keys(L, 2, run_opts)) {
		opts.data_in = bpfmap_opt_field_string(L, 2, "data_in", &data_len);
		opts.ctx_in = bpfmap_opt_field_string(L, 2, "ctx_in", &ctx_len);
		if (data_len > UINT32_MAX || ctx_len > UINT32_MAX)
			bpfmap_arg_error(L, 2, "data_in and ctx_in must be shorter than 4 GiB");
		opts.data_size_in = (__u32)data_len;
		opts.ctx_size_in = (__u32)ctx_len;
		bpfmap_opt_field_int(L, 2, "data_size_out", 0, INT32_MAX, &data_size_out);
		/* the kernel takes a data_size_out of 0 as "no limit" and copies
		 * a grown packet whole, past any buffer we could size for it */
		if (data_size_out == 0)
			bpfmap_arg_error(L, 2, "field 'data_size_out' must be at least 1 (the kernel "
			                 "takes 0 as no limit); leave it out for data_in's size + 4096");
		bpfmap_opt_field_int(L, 2, "ctx_size_out", 0, INT32_MAX, &ctx_size_out);
		if (bpfmap_opt_field_int(L, 2, "repeat", 0, UINT32_MAX, &v))
			opts.repeat = (int)(__u32)v;
		if (bpfmap_opt_field_int(L, 2, "flags", 0, UINT32_MAX, &v))
			opts.flags = (__u32)v;
		if (bpfmap_opt_field_int(L, 2, "cpu", 0, UINT32_MAX, &v))
			opts.cpu = (__u32)v;
	}
	/* the kernel writes all the output there is into a buffer whose size is
	 * given as 0, so an output buffer always goes with its size, never 0;
	 * the default leaves room for a program that grows the packet */
	if (data_size_out < 0 && opts.data_in)
		data_size_out = (lua_Integer)data_len + 4096;
	if (ctx_size_out < 0 && opts.ctx_in)
		ctx_size_out = (lua_Integer)ctx_len;
	if (data_size_out >= 0) {
		/* at least data_in's size (and ctx_in's below): valgrind 3.19
		 * takes the kernel to write that much whatever the out size says */
		data_out = lua_newuserdatauv(L, ((size_t)data_size_out > data_len ?
		                                 (size_t)data_size_out : data_len) + 1, 0);
		opts.data_out = data_out;
		opts.data_size_out = (__u32)data_size_out;
	}
	if (ctx_size_out >= 0) {
		ctx_out = lua_newuserdatauv(L, ((size_t)ctx_size_out > ctx_len ?
		                                (size_t)ctx_size_out : ctx_len) + 1, 0);
		opts.ctx_out = ctx_out;
		opts.ctx_size_out = (__u32)ctx_size_out;
	}

	bpfmap_log_clear();
	err = bpf_prog_test_run_opts(bpf_program__fd(p->prog), &opts);
	describe(what, sizeof(what), p->prog);
	if (err) {
		err = errno;
		if (err == ENOTSUPP)
			return bpfmap_fail_msg(L, err, lua_pushfstring(L,
				"test run of %s: the kernel has no test run for %s programs (ENOTSUPP)",
				what, libbpf_bpf_prog_type_str(bpf_program__type(p->prog))));
		if (err == ENOSPC)
			return bpfmap_fail(L, err, "test run of %s (output of %d data and %d ctx "
			                   "bytes; data_size_out %d, ctx_size_out %d)", what,
			                   (int)opts.data_size_out, (int)opts.ctx_size_out,
			                   (int)data_size_out, (int)ctx_size_out);
		return bpfmap_fail(L, err, "test run of %s", what);
	}
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, opts.retval);
	lua_setfield(L, -2, "retval");
	lua_pushinteger(L, opts.duration);
	lua_setfield(L, -2, "duration");
	if (data_out) {
		lua_pushlstring(L, data_out, opts.data_size_out);
		lua_setfield(L, -2, "data_out");
	}
	if (ctx_out) {
		lua_pushlstring(L, ctx_out, opts.ctx_size_out);
		lua_setfield(L, -2, "ctx_out");
	}
	return 1;
}

static int prog_tostring(lua_State *L)
{
	struct program *p = luaL_checkudata(L, 1, BPFMAP_PROGRAM);
	struct object *o;

	lua_getiuservalue(L, 1, 1);
	o = lua_touserdata(L, -1);
	if (!o || !o->obj) {
		lua_pushliteral(L, "Program (closed object)");
		return 1;
	}
	lua_pushfstring(L, "Program '%s' (section %s, %s)", bpf_program__name(p->prog),
	                bpf_program__section_name(p->prog),
	                o->loaded ? "loaded" : "not loaded");
	return 1;
}

static void link_release(struct link *l)
{
	if (l->link) {
		bpf_link__destroy(l->link);
		l->link = NULL;
	}
}

void bpfmap_links_destroy(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		struct link *l = luaL_testudata(L, -2, BPFMAP_LINK);

		if (l)
			link_release(l);
		lua_pop(L, 1);
	}
}

/* link:destroy(), __gc, __close: detach; destroying twice is fine */
static int link_destroy(lua_State *L)
{
	link_release(luaL_checkudata(L, 1, BPFMAP_LINK));
	lua_pushboolean(L, 1);
	return 1;
}

static int link_tostring(lua_State *L)
{
	struct link *l = luaL_checkudata(L, 1, BPFMAP_LINK);

	lua_pushfstring(L, "Link of %s%s", l->what, l->link ? "" : " (destroyed)");
	return 1;
}

static const luaL_Reg prog_methods[] = {
	{ "name", prog_name },
	{ "section", prog_section },
	{ "type", prog_type },
	{ "fd", prog_fd },
	{ "id", prog_id },
	{ "attach", prog_attach },
	{ "run", prog_run },
	{ "set_autoload", prog_set_autoload },
	{ "set_autoattach", prog_set_autoattach },
	{ NULL, NULL },
};

static const luaL_Reg link_methods[] = {
	{ "destroy", link_destroy },
	{ NULL, NULL },
};

void bpfmap_program_open(lua_State *L)
{
	/* a Program is a view of its Object, which owns and closes it */
	bpfmap_new_type(L, BPFMAP_PROGRAM, prog_methods, NULL, prog_tostring);
	bpfmap_new_type(L, BPFMAP_LINK, link_methods, link_destroy, link_tostring);
}
