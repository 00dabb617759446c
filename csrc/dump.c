/*
 * m:dump([opts]): every entry of a map as text, formatted through the map's
 * own BTF by libbpf's btf_dump__dump_type_data (C-like, readable as
 * `bpftool map dump`), or as hex bytes where the map has no BTF for the key
 * or the value, as bpftool shows them.  Per-CPU values show one line (or
 * block) per possible CPU.
 *
 * The map's BTF comes from btf_cache.c, loaded once per Lua state.  libbpf
 * prints through a callback; ours only appends to a malloc'ed C buffer, and
 * the walk (syscalls and formatting) runs with no Lua call in between, so no
 * Lua error can longjmp across libbpf's frames and the btf_dump is always
 * freed.  The text becomes a Lua string once, at the end.
 */
#include "bpfmap.h"
#include "elements.h"
#include "field.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define DUMP_TEXT "bpfmap.dump_text"
#define INDENT "    "
#define HEX_PER_LINE 16

/* A growable C string; err is set (ENOMEM) once an append fails. */
struct text {
	char *p;
	size_t len, cap;
	int err;
};

static void text_vadd(struct text *t, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	if (t->err)
		return;
	va_copy(copy, ap);
	n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, copy);
	va_end(copy);
	if (n < 0) {
		t->err = EINVAL;
		return;
	}
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *p;

		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		p = realloc(t->p, cap);
		if (!p) {
			t->err = ENOMEM;
			return;
		}
		t->p = p;
		t->cap = cap;
		vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	}
	t->len += (size_t)n;
}

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	text_vadd(t, fmt, ap);
	va_end(ap);
}

/* btf_dump's printf_fn: libbpf's frames are above us, so no Lua here. */
static void btf_printf(void *ctx, const char *fmt, va_list args)
{
	text_vadd(ctx, fmt, args);
}

/* The text lives in a userdata whose __gc frees it, so that a Lua error
 * (out of memory while pushing the result) cannot leak it. */
static int text_gc(lua_State *L)
{
	struct text *t = luaL_checkudata(L, 1, DUMP_TEXT);

	free(t->p);
	t->p = NULL;
	return 0;
}

static struct text *new_text(lua_State *L)
{
	struct text *t = lua_newuserdatauv(L, sizeof(*t), 0);

	memset(t, 0, sizeof(*t));
	luaL_setmetatable(L, DUMP_TEXT);
	return t;
}

struct dump_opts {
	lua_Integer limit;   /* -1: every entry */
	bool compact;
};

enum { DUMP_OPT_LIMIT, DUMP_OPT_COMPACT };
static const char *const dump_opt_names[] = { "limit", "compact", NULL };

static void read_opts(lua_State *L, int arg, struct dump_opts *o)
{
	o->limit = -1;
	o->compact = false;
	if (lua_isnoneornil(L, arg))
		return;
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, arg)) {
		if (bpfmap_opt_index(L, arg, -2, dump_opt_names) == DUMP_OPT_LIMIT) {
			lua_pop(L, 1);
			bpfmap_opt_field_int(L, arg, "limit", 0, LUA_MAXINTEGER, &o->limit);
		} else {
			if (lua_type(L, -1) != LUA_TBOOLEAN)
				bpfmap_arg_error(L, arg, "compact must be a boolean, got %s",
				                 luaL_typename(L, -1));
			o->compact = lua_toboolean(L, -1);
			lua_pop(L, 1);
		}
	}
}

/* Everything the walk needs, set up before it so that it calls no Lua. */
struct dumper {
	const struct bpf_map_info *info;
	const struct btf *btf;        /* NULL: hex only */
	struct btf_dump *bd;
	struct text *out;
	struct dump_opts o;
	int ncpus;                    /* 1 unless per-CPU */
	size_t stride;                /* bytes per CPU in a per-CPU value */
	struct bpfmap_key_walk walk;  /* its cur and value: the entry to format */
	/* on failure: what failed, for the message */
	char step[160];
};

static void add_hex(struct text *t, const unsigned char *p, size_t n, bool wrap)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i == 0)
			text_add(t, "%02x", p[i]);
		else if (wrap && i % HEX_PER_LINE == 0)
			text_add(t, "\n" INDENT "%02x", p[i]);
		else
			text_add(t, " %02x", p[i]);
	}
}

/* The key's bytes in hex into buf, for messages. */
static void key_hex(const struct dumper *d, const unsigned char *key, char *buf, size_t len)
{
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < d->info->key_size && at + 4 < len; i++)
		at += (size_t)snprintf(buf + at, len - at, i ? " %02x" : "%02x", key[i]);
	if (i < d->info->key_size && at + 4 < len)
		snprintf(buf + at, len - at, " ...");
}

/*
 * Give each line that closes a '[' or '{' the indentation of the line that
 * opened it.  libbpf 1.1 indents the ']' of a char array that ends in a NUL
 * one level too deep per NUL it stopped at; the values themselves are
 * libbpf's.  The first line, which follows a label, counts as indented by
 * first_indent.  Lines deeper than the stack holds are left as they are.
 */
static void reindent_closers(struct text *t, size_t start, size_t first_indent)
{
	size_t open_indent[64], depth = 0, off = 0, len;
	char *copy;

	if (t->err || t->len == start)
		return;
	len = t->len - start;
	copy = malloc(len + 1);
	if (!copy) {
		t->err = ENOMEM;
		return;
	}
	memcpy(copy, t->p + start, len);
	copy[len] = '\0';
	t->len = start;
	while (off < len) {
		const char *line = copy + off;
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		size_t lead = strspn(line, " ");
		bool closer = lead < n && (line[lead] == ']' || line[lead] == '}');

		if (closer && depth > 0 && --depth < 64)
			text_add(t, "%*s%.*s", (int)open_indent[depth], "", (int)(n - lead),
			         line + lead);
		else
			text_add(t, "%.*s", (int)n, line);
		if (n && (line[n - 1] == '[' || line[n - 1] == '{')) {
			if (depth < 64)
				open_indent[depth] = lead + (off == 0 ? first_indent : 0);
			depth++;
		}
		if (eol)
			text_add(t, "\n");
		off += n + (eol ? 1 : 0);
	}
	free(copy);
}

/* One value through libbpf's btf_dump; its first line starts where the
 * text is, its later lines at indentation `level`.  0 or -errno. */
static int add_typed(struct dumper *d, __u32 type_id, const void *data, size_t size, int level)
{
	LIBBPF_OPTS(btf_dump_type_data_opts, opts,
		.indent_str = INDENT,
		.indent_level = level,
		.compact = d->o.compact,
		.emit_zeroes = true);
	size_t start = d->out->len, skip = d->o.compact ? 0 : (size_t)level * strlen(INDENT);
	int r = btf_dump__dump_type_data(d->bd, type_id, data, size, &opts);

	if (r < 0)
		return r;
	/* libbpf indents the first line too; ours follows a label */
	if (skip && !d->out->err && d->out->len - start >= skip) {
		memmove(d->out->p + start, d->out->p + start + skip, d->out->len - start - skip + 1);
		d->out->len -= skip;
	}
	if (!d->o.compact)
		reindent_closers(d->out, start, (size_t)level * strlen(INDENT));
	return 0;
}

/*
 * A DATASEC (a program's .bss, .data, ...) one variable a line.  libbpf
 * 1.1 prints a DATASEC's variables run together on one line, which reads
 * badly for a section of any size; each variable's value is still libbpf's.
 */
static int add_datasec(struct dumper *d, const struct btf_type *t, const unsigned char *data,
                       size_t size)
{
	const struct btf_var_secinfo *vs = btf_var_secinfos(t);
	const char *nl = d->o.compact ? " " : "\n";
	__u16 i, n = btf_vlen(t);
	int r;

	text_add(d->out, "SEC(\"%s\") {%s", btf__name_by_offset(d->btf, t->name_off), nl);
	for (i = 0; i < n; i++, vs++) {
		const struct btf_type *var = btf__type_by_id(d->btf, vs->type);

		if (!var || (size_t)vs->offset + vs->size > size)
			return -EINVAL;
		text_add(d->out, "%s%s = ", d->o.compact ? "" : INDENT,
		         btf__name_by_offset(d->btf, var->name_off));
		r = add_typed(d, var->type, data + vs->offset, vs->size, 1);
		if (r)
			return r;
		text_add(d->out, ";%s", nl);
	}
	text_add(d->out, "}");
	return 0;
}

/* "label: " and the data, through BTF type_id (0: hex).  0 or -errno. */
static int add_part(struct dumper *d, const char *label, __u32 type_id, const void *data,
                    size_t size)
{
	int r = 0;

	text_add(d->out, "%s: ", label);
	if (d->bd && type_id) {
		const struct btf_type *t = btf__type_by_id(d->btf, type_id);

		if (t && btf_is_datasec(t))
			r = add_datasec(d, t, data, size);
		else
			r = add_typed(d, type_id, data, size, 0);
	} else {
		add_hex(d->out, data, size, !d->o.compact);
	}
	if (r)
		return r;
	return d->out->err ? -d->out->err : 0;
}

/* One entry: the key and the value (per CPU for per-CPU maps). */
static int add_entry(struct dumper *d, bool first)
{
	const char *sep = d->o.compact ? "  " : "\n";
	char label[32];
	int cpu, r;

	if (!first && !d->o.compact)
		text_add(d->out, "\n");
	r = add_part(d, "key", d->info->btf_key_type_id, d->walk.cur, d->info->key_size);
	if (r)
		return r;
	for (cpu = 0; cpu < d->ncpus; cpu++) {
		text_add(d->out, "%s", sep);
		if (bpfmap_type_is_percpu(d->info->type))
			snprintf(label, sizeof(label), "value (CPU %d)", cpu);
		else
			snprintf(label, sizeof(label), "value");
		r = add_part(d, label, d->info->btf_value_type_id,
		             (char *)d->walk.value + (size_t)cpu * d->stride, d->info->value_size);
		if (r)
			return r;
	}
	text_add(d->out, "\n");
	return d->out->err ? -d->out->err : 0;
}

/*
 * Walk the map with bpfmap_key_walk_next, which skips keys that vanish and
 * steps past empty slots as pairs does, formatting each entry.  0 or
 * -errno with d->step naming what failed.
 */
static int walk(struct dumper *d)
{
	struct bpfmap_key_walk *w = &d->walk;
	char hex[64];
	int r;

	for (;;) {
		r = bpfmap_key_walk_next(w);
		if (r == BPFMAP_WALK_END)
			return 0;
		if (r == BPFMAP_WALK_MORE) {
			text_add(d->out, "%s... more entries not shown (limit %lld)\n",
			         d->o.compact || w->taken == 0 ? "" : "\n", (long long)d->o.limit);
			return d->out->err ? -d->out->err : 0;
		}
		if (r < 0) {
			if (w->failed == BPFMAP_WALK_NEXT_KEY) {
				snprintf(d->step, sizeof(d->step), "next_key");
			} else {
				key_hex(d, (unsigned char *)w->cur, hex, sizeof(hex));
				snprintf(d->step, sizeof(d->step), "lookup key %s", hex);
			}
			return r;
		}
		r = add_entry(d, w->taken == 1);
		if (r) {
			key_hex(d, (unsigned char *)w->cur, hex, sizeof(hex));
			snprintf(d->step, sizeof(d->step), "format entry of key %s", hex);
			return r;
		}
	}
}

/* m:dump([opts]) --> text | nil, msg, errno */
static int dump(lua_State *L)
{
	/* keys to walk, as for pairs() */
	struct mapdata *md = bpfmap_check_keyed(L, "dump");
	struct dumper d;
	enum bpfmap_need need = BPFMAP_NEED_NOTHING;
	size_t vsize;
	int err = 0;

	memset(&d, 0, sizeof(d));
	read_opts(L, 2, &d.o);
	lua_settop(L, 1);
	d.info = &md->info;
	err = bpfmap_value_layout(md, &d.ncpus, &vsize);
	if (err)
		return bpfmap_fail(L, -err, "dump map '%s' (id %I): possible CPUs",
		                   md->info.name, (lua_Integer)md->info.id);
	d.stride = vsize / (size_t)d.ncpus;   /* per CPU: round_up(value_size, 8) */
	/* scratch buffers and the text, all owned by Lua values on the stack */
	d.walk.fd = md->fd;
	d.walk.key_size = md->info.key_size;
	d.walk.prev = bpfmap_scratch(L, md->info.key_size);
	d.walk.cur = bpfmap_scratch(L, md->info.key_size);
	d.walk.gone = bpfmap_scratch(L, md->info.key_size);
	d.walk.value = bpfmap_scratch(L, vsize);
	d.walk.limit = d.o.limit;
	d.out = new_text(L);

	/* the map's BTF from the per-state cache (btf_cache.c): a REPL's
	 * repeated dumps load it once */
	bpfmap_log_clear();
	if (md->info.btf_id && (md->info.btf_key_type_id || md->info.btf_value_type_id)) {
		d.btf = bpfmap_btf_get(L, md->info.btf_id, &err);
		if (!d.btf) {
			need = BPFMAP_NEED_ADMIN;
			snprintf(d.step, sizeof(d.step), "load BTF id %u", md->info.btf_id);
		}
	}

	/* from here to the end of the walk, no Lua call (the cache's BTF stays
	 * valid until the next call into the cache) */
	if (d.btf) {
		d.bd = btf_dump__new(d.btf, btf_printf, d.out, NULL);
		if (!d.bd) {
			err = errno ? -errno : -ENOMEM;
			snprintf(d.step, sizeof(d.step), "btf_dump of BTF id %u", md->info.btf_id);
		}
	}
	if (!err)
		err = walk(&d);
	btf_dump__free(d.bd);

	if (err)
		return bpfmap_fail_cap(L, -err, need, "dump map '%s' (id %I): %s", md->info.name,
		                       (lua_Integer)md->info.id, d.step);
	lua_pushlstring(L, d.out->p ? d.out->p : "", d.out->len);
	free(d.out->p);
	d.out->p = NULL;
	return 1;
}

static const luaL_Reg dump_methods[] = {
	{ "dump", dump },
	{ NULL, NULL },
};

/* Adds dump to MapData's method table. */
int bpfmap_dump_open(lua_State *L)
{
	if (luaL_newmetatable(L, DUMP_TEXT)) {
		lua_pushcfunction(L, text_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	luaL_getmetatable(L, BPFMAP_MAPDATA);
	lua_getfield(L, -1, "__index");
	luaL_setfuncs(L, dump_methods, 0);
	lua_pop(L, 2);
	return 0;
}
