/*
 * libbpf prints through one process-wide callback.  Ours never calls into
 * Lua (a Lua error must not longjmp across libbpf's frames): it only appends
 * to a per-thread buffer that the next failure message quotes, and echoes to
 * stderr at the level the caller chose with bpfmap.set_log().
 */
#include "bpfmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#define LOG_CAP 4096

static _Thread_local char log_buf[LOG_CAP];
static _Thread_local size_t log_len;
/* -1: echo nothing; otherwise echo messages at this libbpf level or below */
static int echo_level = -1;

static int capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	if ((int)level <= echo_level) {
		va_copy(copy, ap);
		vfprintf(stderr, fmt, copy);
		va_end(copy);
	}
	if (level == LIBBPF_DEBUG || log_len >= LOG_CAP - 1)
		return 0;
	n = vsnprintf(log_buf + log_len, LOG_CAP - log_len, fmt, ap);
	if (n > 0)
		log_len = log_len + (size_t)n < LOG_CAP ? log_len + (size_t)n : LOG_CAP - 1;
	return 0;
}

void bpfmap_log_install(void)
{
	libbpf_set_print(capture);
}

void bpfmap_log_clear(void)
{
	log_len = 0;
	log_buf[0] = '\0';
}

const char *bpfmap_log_text(void)
{
	/* trailing newlines would break the one-line error message */
	while (log_len && (log_buf[log_len - 1] == '\n' || log_buf[log_len - 1] == ' '))
		log_buf[--log_len] = '\0';
	return log_buf;
}

/* bpfmap.set_log(level): "off", "warn", "info" or "debug"; returns the old one. */
static int set_log(lua_State *L)
{
	static const char *const levels[] = { "off", "warn", "info", "debug", NULL };
	int old = echo_level;

	echo_level = bpfmap_check_option(L, 1, NULL, levels) - 1;
	lua_pushstring(L, levels[old + 1]);
	return 1;
}

/* bpfmap.last_log(): what libbpf said during the last failing call. */
static int last_log(lua_State *L)
{
	lua_pushstring(L, bpfmap_log_text());
	return 1;
}

int bpfmap_log_open(lua_State *L)
{
	lua_pushcfunction(L, set_log);
	lua_setfield(L, -2, "set_log");
	lua_pushcfunction(L, last_log);
	lua_setfield(L, -2, "last_log");
	return 0;
}
