/*
 * Shared between object.c (Object) and program.c (Program, Link): the
 * Object's state and the handful of calls one file makes into the other.
 */
#ifndef BPFMAP_OBJECT_H
#define BPFMAP_OBJECT_H

#include "bpfmap.h"

#define BPFMAP_OBJECT "bpfmap.Object"
#define BPFMAP_PROGRAM "bpfmap.Program"
#define BPFMAP_LINK "bpfmap.Link"

struct bpf_object;
struct bpf_program;
struct bpf_link;

/*
 * User values of an Object: a cache of its Program handles by name (so a
 * program is one userdata however often it is asked for), and a weak-keyed
 * set of the Links prog:attach() made, which obj:close() destroys.
 */
enum { OBJECT_UV_PROGRAMS = 1, OBJECT_UV_LINKS = 2, OBJECT_NUV = 2 };

struct object {
	struct bpf_object *obj;    /* NULL once closed */
	bool load_tried;           /* libbpf refuses a second load, even after a failed one */
	bool loaded;
	int nprogs;
	struct bpf_link **links;   /* obj:attach()'s, by program index */
};

/* The Object at idx, raising if it is not one; `what` names the method in
 * "<what>: closed object". */
struct object *bpfmap_check_object(lua_State *L, int idx, const char *what);
/* Raise "<what>: object not loaded" unless it is. */
void bpfmap_object_require_loaded(lua_State *L, struct object *o, const char *what);

/* ---- program.c ---- */
/* Registers the Program and Link metatables. */
void bpfmap_program_open(lua_State *L);
/* Push the Program handle of prog, which belongs to the Object at objidx
 * (cached in its OBJECT_UV_PROGRAMS table). */
void bpfmap_push_program(lua_State *L, int objidx, struct bpf_program *prog);
/* Destroy every Link in the table at idx (obj:close()). */
void bpfmap_links_destroy(lua_State *L, int idx);
/* Whether tracefs is where libbpf 1.1 looks for tracepoint ids; if not, a
 * hint for the message, else NULL. */
const char *bpfmap_tracefs_hint(const char *section);

#endif
