/*
 * libFuzzer harness for csrc/names.c.  Every checker sees the whole input;
 * besides not crashing, each must return 0 or -EINVAL, leave a terminated
 * message, and accept only what its rules allow (checked independently here,
 * so a rule dropped from names.c shows up as a crash).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc \
 *       tests/fuzz_names.c csrc/names.c -o build/tests/fuzz_names
 *   build/tests/fuzz_names -max_total_time=60 tests/corpus/names
 */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "require.h"

static int printable(unsigned char c) { return c >= 0x20 && c <= 0x7e; }
static int ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static int digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* The checker's result is sane and the message is terminated in msg. */
static void sane(int rc, const char *msg, size_t msglen, const char *prefix)
{
	REQUIRE(rc == 0 || rc == -EINVAL);
	if (rc) {
		REQUIRE(memchr(msg, '\0', msglen) != NULL);
		REQUIRE(strncmp(msg, prefix, strlen(prefix)) == 0);
	}
}

/* Whether s[0..len) is what ktstr's rules and bpfmap's accept as a suffix. */
static int suffix_ok(const uint8_t *s, size_t len)
{
	size_t i;

	if (len < 2 || len > BPFMAP_OBJ_NAME_MAX || s[0] != '.' || s[1] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!printable(s[i]) || s[i] == ' ' || s[i] == '/' || s[i] == '\\')
			return 0;
	return 1;
}

/* Whether s[0..len) is what ktstr's rules and bpfmap's accept as a field. */
static int field_ok(const uint8_t *s, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return 0;
	for (;;) {
		/* identifier */
		if (i >= len || !ident(s[i]))
			return 0;
		while (i < len && (ident(s[i]) || digit(s[i])))
			i++;
		/* [N] suffixes, 1..10 digits */
		while (i < len && s[i] == '[') {
			size_t d = ++i;

			while (i < len && digit(s[i]))
				i++;
			if (i == d || i - d > 10 || i >= len || s[i] != ']')
				return 0;
			i++;
		}
		if (i == len)
			return 1;
		if (s[i] != '.')
			return 0;
		i++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees any read past len. */
	char *s = malloc(size ? size : 1);
	char msg[128], tiny[4];
	size_t i;
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);

	rc = bpfmap_check_suffix(s, size, msg, sizeof(msg));
	sane(rc, msg, sizeof(msg), "map_name_suffix ");
	REQUIRE((rc == 0) == suffix_ok((const uint8_t *)s, size));

	rc = bpfmap_check_field(s, size, msg, sizeof(msg));
	sane(rc, msg, sizeof(msg), "field ");
	REQUIRE((rc == 0) == field_ok((const uint8_t *)s, size));

	rc = bpfmap_check_map_name("name", s, size, msg, sizeof(msg));
	sane(rc, msg, sizeof(msg), "name ");
	if (rc == 0) {
		REQUIRE(size <= BPFMAP_OBJ_NAME_MAX);
		for (i = 0; i < size; i++)
			REQUIRE(ident((unsigned char)s[i]) || digit((unsigned char)s[i]) || s[i] == '.');
	}

	rc = bpfmap_check_path("path", s, size, msg, sizeof(msg));
	sane(rc, msg, sizeof(msg), "path ");
	REQUIRE((rc == 0) == (size > 0 && !memchr(s, '\0', size)));

	/* A tiny message buffer is still terminated, never overrun. */
	rc = bpfmap_check_field(s, size, tiny, sizeof(tiny));
	REQUIRE(rc == 0 || memchr(tiny, '\0', sizeof(tiny)) != NULL);
	rc = bpfmap_check_suffix(s, size, NULL, 0);
	REQUIRE(rc == 0 || rc == -EINVAL);

	free(s);
	return 0;
}
