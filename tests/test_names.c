/*
 * Unit tests for csrc/names.c: ktstr's BpfMapWrite construction rules (in
 * ktstr's order, see shared/reference/ktstr-bpfmapwrite.md) and bpfmap's own
 * stricter rules.  No framework, no Lua: `make build/tests/test_names`.
 */
#include "../csrc/names.h"
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A string literal with its exact length, so embedded NULs count. */
#define LIT(s) (s), (sizeof(s) - 1)

typedef int (*check2_fn)(const char *s, size_t len, char *msg, size_t msglen);

static void printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c <= 0x7e)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

/* fn(s) must reject with -EINVAL and a message containing want. */
static void rejects_(const char *file, int line, check2_fn fn, const char *s,
                     size_t len, const char *want)
{
	char msg[256], shown[128];
	int rc;

	memset(msg, 'X', sizeof(msg));
	rc = fn(s, len, msg, sizeof(msg));
	printable(s, len, shown, sizeof(shown));
	if (rc == -EINVAL && memchr(msg, '\0', sizeof(msg)) && strstr(msg, want)) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s:%d: \"%s\" (len %zu): want -EINVAL with \"%s\", got %d \"%s\"\n",
	       file, line, shown, len, want, rc,
	       memchr(msg, '\0', sizeof(msg)) ? msg : "<unterminated>");
}

static void accepts_(const char *file, int line, check2_fn fn, const char *s, size_t len)
{
	char msg[256], shown[128];
	int rc;

	msg[0] = '\0';
	rc = fn(s, len, msg, sizeof(msg));
	if (rc == 0) {
		passed++;
		return;
	}
	printable(s, len, shown, sizeof(shown));
	failed++;
	printf("FAIL %s:%d: \"%s\" (len %zu): want accepted, got %d \"%s\"\n",
	       file, line, shown, len, rc, msg);
}

/* Variadic so LIT()'s two values count as the string and its length. */
#define REJECTS(fn, ...) rejects_(__FILE__, __LINE__, fn, __VA_ARGS__)
#define ACCEPTS(fn, ...) accepts_(__FILE__, __LINE__, fn, __VA_ARGS__)

/* Adapters so the 4-argument checkers fit check2_fn. */
static int map_name(const char *s, size_t len, char *msg, size_t msglen)
{
	return bpfmap_check_map_name("name", s, len, msg, msglen);
}

static int pin_path(const char *s, size_t len, char *msg, size_t msglen)
{
	return bpfmap_check_path("path", s, len, msg, msglen);
}

#define SUF bpfmap_check_suffix
#define FLD bpfmap_check_field

/* The messages, as the names.h contract and ktstr's rules word them. */
#define S_EMPTY "map_name_suffix must not be empty"
#define S_DOT "map_name_suffix must start with '.'"
#define S_BARE "map_name_suffix must not be a bare '.'"
#define S_DOTDOT "map_name_suffix must not start with '..'"
#define S_SPACE "map_name_suffix must not contain whitespace"
#define S_SEP "map_name_suffix must not contain '/' or '\\'"
#define S_PRINT "map_name_suffix must contain only printable ASCII"
#define S_LONG "map_name_suffix must be at most 15 bytes"
#define F_EMPTY "field must not be empty"
#define F_ENDS "field must not start or end with '.'"
#define F_DOTDOT "field must not contain '..'"
#define F_SPACE "field must not contain whitespace"
#define F_SEP "field must not contain '/' or '\\'"
#define F_PRINT "field must contain only printable ASCII"
#define F_SEG "must be a C identifier with optional [index] suffixes"

static void test_ktstr_conformance(void)
{
	/* ktstr's own rejection list, in the order its tests give it. */
	REJECTS(SUF, LIT(""), S_EMPTY);
	REJECTS(SUF, LIT("bss"), S_DOT);
	REJECTS(SUF, LIT(".b s"), S_SPACE);
	REJECTS(SUF, LIT(".bss/data"), S_SEP);
	REJECTS(SUF, LIT("."), S_BARE);
	REJECTS(SUF, LIT("..bss"), S_DOTDOT);
	REJECTS(SUF, LIT(".bss\0"), S_PRINT);
	REJECTS(SUF, LIT(".b\x01ss"), S_PRINT);
	REJECTS(FLD, LIT(""), F_EMPTY);
	REJECTS(FLD, LIT("cr ash"), F_SPACE);
	REJECTS(FLD, LIT("a/b"), F_SEP);
	REJECTS(FLD, LIT("cr\x01" "ash"), F_PRINT);
	REJECTS(FLD, LIT("crash."), F_ENDS);
	REJECTS(FLD, LIT(".crash"), F_ENDS);
	REJECTS(FLD, LIT("a..b"), F_DOTDOT);

	/* Accepted pairs. */
	ACCEPTS(SUF, LIT(".bss"));
	ACCEPTS(FLD, LIT("crash"));
	ACCEPTS(FLD, LIT("a.b"));
}

static void test_suffix_rules(void)
{
	/* Each rule of the list, in ktstr's order. */
	REJECTS(SUF, LIT(""), S_EMPTY);
	REJECTS(SUF, LIT("bss"), S_DOT);
	REJECTS(SUF, LIT("."), S_BARE);
	REJECTS(SUF, LIT("..bss"), S_DOTDOT);
	REJECTS(SUF, LIT(".b s"), S_SPACE);
	REJECTS(SUF, LIT(".bss/data"), S_SEP);
	REJECTS(SUF, LIT(".bss\0"), S_PRINT);
	REJECTS(SUF, LIT(".b\x01ss"), S_PRINT);

	/* Each whitespace byte ktstr names, and the separators. */
	REJECTS(SUF, LIT(".b\tss"), S_SPACE);
	REJECTS(SUF, LIT(".b\rss"), S_SPACE);
	REJECTS(SUF, LIT(".b\nss"), S_SPACE);
	REJECTS(SUF, LIT(".bss "), S_SPACE);
	REJECTS(SUF, LIT(".bss\\data"), S_SEP);
	REJECTS(SUF, LIT(".bss\x7f"), S_PRINT);
	REJECTS(SUF, LIT(".bss\x80"), S_PRINT);
	REJECTS(SUF, LIT(".bss\xff"), S_PRINT);
	/* A NUL in the middle, not only at the end. */
	REJECTS(SUF, LIT(".b\0ss"), S_PRINT);

	/* The first rule broken is the one reported. */
	REJECTS(SUF, LIT(" .bss"), S_DOT);           /* not '.' before whitespace */
	REJECTS(SUF, LIT("/bss"), S_DOT);
	REJECTS(SUF, LIT(".. bss"), S_DOTDOT);       /* '..' before whitespace */
	REJECTS(SUF, LIT("../bss"), S_DOTDOT);
	REJECTS(SUF, LIT(".b/ s"), S_SPACE);         /* whitespace before separator */
	REJECTS(SUF, LIT(".b\x01/s"), S_SEP);        /* separator before printable */
	REJECTS(SUF, LIT(".b\x01 s"), S_SPACE);
	REJECTS(SUF, LIT(".bss/aaaaaaaaaaaaaaaaaaaaa"), S_SEP); /* ktstr's before length */
	REJECTS(SUF, LIT(".\x01" "aaaaaaaaaaaaaaaaaaaa"), S_PRINT);

	/* bpfmap's length rule: a kernel map name holds at most 15 bytes. */
	ACCEPTS(SUF, LIT(".aaaaaaaaaaaaaa"));            /* 15 */
	REJECTS(SUF, LIT(".aaaaaaaaaaaaaaa"), S_LONG);   /* 16 */
	REJECTS(SUF, LIT(".data.very_long_section"), S_LONG);
	REJECTS(SUF, LIT(".aaaaaaaaaaaaaaa"), "(got 16)");

	ACCEPTS(SUF, LIT(".data"));
	ACCEPTS(SUF, LIT(".rodata"));
	ACCEPTS(SUF, LIT(".data.foo"));
	ACCEPTS(SUF, LIT(".b"));
	ACCEPTS(SUF, LIT(".bss."));    /* ktstr only forbids a leading '..' */
	ACCEPTS(SUF, LIT(".a..b"));
	/* len is honoured: bytes past it are not read. */
	ACCEPTS(SUF, ".bss junk", 4);
	REJECTS(SUF, ".bss", 0, S_EMPTY);

	/* The message names the offending byte. */
	REJECTS(SUF, LIT(".b\x01ss"), "byte 2 is 0x01");
	REJECTS(SUF, LIT(".b s"), "(byte 2)");
}

static void test_field_rules(void)
{
	REJECTS(FLD, LIT(""), F_EMPTY);
	REJECTS(FLD, LIT("."), F_ENDS);
	REJECTS(FLD, LIT(".."), F_ENDS);
	REJECTS(FLD, LIT(".crash"), F_ENDS);
	REJECTS(FLD, LIT("crash."), F_ENDS);
	REJECTS(FLD, LIT("a..b"), F_DOTDOT);
	REJECTS(FLD, LIT("cr ash"), F_SPACE);
	REJECTS(FLD, LIT("cr\tash"), F_SPACE);
	REJECTS(FLD, LIT("cr\nash"), F_SPACE);
	REJECTS(FLD, LIT("cr\rash"), F_SPACE);
	REJECTS(FLD, LIT("a/b"), F_SEP);
	REJECTS(FLD, LIT("a\\b"), F_SEP);
	REJECTS(FLD, LIT("cr\x01" "ash"), F_PRINT);
	REJECTS(FLD, LIT("crash\0"), F_PRINT);
	REJECTS(FLD, LIT("cr\xc3\xa9sh"), F_PRINT);

	/* ktstr's order: ends, '..', whitespace, separator, printable. */
	REJECTS(FLD, LIT(".a b"), F_ENDS);
	REJECTS(FLD, LIT("a..b c"), F_DOTDOT);
	REJECTS(FLD, LIT("a b/c"), F_SPACE);
	REJECTS(FLD, LIT("a/b c"), F_SPACE);
	REJECTS(FLD, LIT("a\x01/b"), F_SEP);
	/* ... then bpfmap's segment syntax, last. */
	REJECTS(FLD, LIT("a-b\x01"), F_PRINT);
	REJECTS(FLD, LIT("1a/b"), F_SEP);

	/* bpfmap's segment syntax: C identifiers, optional [N] indices. */
	ACCEPTS(FLD, LIT("crash"));
	ACCEPTS(FLD, LIT("a.b"));
	ACCEPTS(FLD, LIT("stats.limit"));
	ACCEPTS(FLD, LIT("_x"));
	ACCEPTS(FLD, LIT("x1"));
	ACCEPTS(FLD, LIT("A_b9"));
	ACCEPTS(FLD, LIT("slots[2].x"));
	ACCEPTS(FLD, LIT("grid[1][3]"));
	ACCEPTS(FLD, LIT("a[0]"));
	ACCEPTS(FLD, LIT("a.b[10].c[3][4].d"));
	ACCEPTS(FLD, LIT("a[4294967295]"));      /* 10 digits */
	REJECTS(FLD, LIT("a["), F_SEG);
	REJECTS(FLD, LIT("a[]"), F_SEG);
	REJECTS(FLD, LIT("a[x]"), F_SEG);
	REJECTS(FLD, LIT("1abc"), F_SEG);
	REJECTS(FLD, LIT("a-b"), F_SEG);
	REJECTS(FLD, LIT("a]"), F_SEG);
	REJECTS(FLD, LIT("a[1"), F_SEG);
	REJECTS(FLD, LIT("a[1]x"), F_SEG);
	REJECTS(FLD, LIT("a[1]]"), F_SEG);
	REJECTS(FLD, LIT("a[-1]"), F_SEG);
	REJECTS(FLD, LIT("a[+1]"), F_SEG);
	REJECTS(FLD, LIT("[1]"), F_SEG);
	REJECTS(FLD, LIT("a[[1]]"), F_SEG);
	REJECTS(FLD, LIT("a[12345678901]"), F_SEG); /* 11 digits */
	REJECTS(FLD, LIT("ok.1bad"), F_SEG);
	REJECTS(FLD, LIT("a$b"), F_SEG);
	/* The message quotes the bad segment, not the whole path. */
	REJECTS(FLD, LIT("ok.a-b.c"), "field segment 'a-b' must be");
	REJECTS(FLD, LIT("x.a[]"), "segment 'a[]'");
	/* len is honoured. */
	ACCEPTS(FLD, "crash!!", 5);
}

static void test_map_name(void)
{
	ACCEPTS(map_name, LIT(""));
	ACCEPTS(map_name, LIT("counters"));
	ACCEPTS(map_name, LIT("my_map.bss"));
	ACCEPTS(map_name, LIT("Map_01"));
	ACCEPTS(map_name, LIT(".bss"));
	ACCEPTS(map_name, LIT("aaaaaaaaaaaaaaa"));                 /* 15 */
	REJECTS(map_name, LIT("aaaaaaaaaaaaaaaa"), "name must be at most 15 bytes (got 16)");
	REJECTS(map_name, LIT("a-b"), "name may hold only letters, digits, '_' and '.'");
	REJECTS(map_name, LIT("a b"), "byte 1 is 0x20");
	REJECTS(map_name, LIT("a/b"), "may hold only");
	REJECTS(map_name, LIT("a\0b"), "byte 1 is 0x00");
	REJECTS(map_name, LIT("caf\xc3\xa9"), "may hold only");
	/* The argument's name is the caller's. */
	{
		char msg[128];

		CHECK(bpfmap_check_map_name("inner_name", LIT("x y"), msg, sizeof(msg)) == -EINVAL,
		      "x y accepted");
		CHECK(strncmp(msg, "inner_name ", 11) == 0, "message is \"%s\"", msg);
	}
}

static void test_path(void)
{
	ACCEPTS(pin_path, LIT("/sys/fs/bpf/x"));
	ACCEPTS(pin_path, LIT("relative"));
	ACCEPTS(pin_path, LIT("/with space/and\x01" "ctl"));
	REJECTS(pin_path, LIT(""), "path must not be empty");
	REJECTS(pin_path, LIT("/sys/fs/bpf/x\0y"), "path must not contain an embedded NUL (byte 13)");
	REJECTS(pin_path, LIT("\0"), "embedded NUL");
	{
		char msg[128];

		CHECK(bpfmap_check_path("pin_path", "", 0, msg, sizeof(msg)) == -EINVAL, "empty accepted");
		CHECK(strcmp(msg, "pin_path must not be empty") == 0, "message is \"%s\"", msg);
	}
}

/* Messages are truncated, never overrun, and msglen 0 writes nothing. */
static void test_message_buffer(void)
{
	char small[8], big[64];

	memset(big, 'Z', sizeof(big));
	CHECK(bpfmap_check_suffix(LIT("bss"), small, sizeof(small)) == -EINVAL, "bss accepted");
	CHECK(strlen(small) == sizeof(small) - 1, "small holds \"%s\"", small);
	CHECK(bpfmap_check_suffix(LIT("bss"), big, 0) == -EINVAL, "bss accepted (msglen 0)");
	CHECK(big[0] == 'Z', "msglen 0 wrote into the buffer");
	CHECK(bpfmap_check_field(LIT("a..b"), NULL, 0) == -EINVAL, "a..b accepted (NULL msg)");
	CHECK(bpfmap_check_map_name("n", LIT("a b"), NULL, 0) == -EINVAL, "map name NULL msg");
	CHECK(bpfmap_check_path("p", "", 0, NULL, 0) == -EINVAL, "path NULL msg");
	/* A byte-exact message. */
	CHECK(bpfmap_check_suffix(LIT("bss"), big, sizeof(big)) == -EINVAL, "bss accepted");
	CHECK(strcmp(big, "map_name_suffix must start with '.'") == 0, "message is \"%s\"", big);
	CHECK(bpfmap_check_field(LIT(""), big, sizeof(big)) == -EINVAL, "\"\" accepted");
	CHECK(strcmp(big, "field must not be empty") == 0, "message is \"%s\"", big);
}

int main(void)
{
	test_ktstr_conformance();
	test_suffix_rules();
	test_field_rules();
	test_map_name();
	test_path();
	test_message_buffer();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
