/*
 * Name validation.  The rules for BpfMapWrite are ktstr's (see
 * shared/reference/ktstr-bpfmapwrite.md), applied in the same order so the
 * first rule a bad name breaks is the one reported, followed by bpfmap's own
 * stricter rules (length, path syntax) that ktstr lacks.
 */
#include "names.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static int reject(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Whitespace, separators and unprintable bytes, shared by both names. */
static int check_charset(const char *arg, const char *s, size_t len,
                         char *msg, size_t msglen)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (is_space((unsigned char)s[i]))
			return reject(msg, msglen, "%s must not contain whitespace (byte %zu)", arg, i);
	for (i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == '\\')
			return reject(msg, msglen, "%s must not contain '/' or '\\' (byte %zu)", arg, i);
	for (i = 0; i < len; i++)
		if (!is_printable((unsigned char)s[i]))
			return reject(msg, msglen,
			              "%s must contain only printable ASCII (byte %zu is 0x%02x)",
			              arg, i, (unsigned char)s[i]);
	return 0;
}

int bpfmap_check_suffix(const char *s, size_t len, char *msg, size_t msglen)
{
	static const char arg[] = "map_name_suffix";
	int err;

	if (len == 0)
		return reject(msg, msglen, "%s must not be empty", arg);
	if (s[0] != '.')
		return reject(msg, msglen, "%s must start with '.'", arg);
	if (len == 1)
		return reject(msg, msglen, "%s must not be a bare '.'", arg);
	if (s[1] == '.')
		return reject(msg, msglen, "%s must not start with '..'", arg);
	err = check_charset(arg, s, len, msg, msglen);
	if (err)
		return err;
	/* A longer suffix could never end a kernel map name. */
	if (len > BPFMAP_OBJ_NAME_MAX)
		return reject(msg, msglen,
		              "%s must be at most %d bytes, the longest kernel map name (got %zu)",
		              arg, BPFMAP_OBJ_NAME_MAX, len);
	return 0;
}

/*
 * After ktstr's rules, each dot-separated segment must be a C identifier
 * followed by zero or more decimal [index] suffixes: anything else could
 * never match a BTF member name, so it is a typo best caught at construction.
 */
static int check_segment(const char *seg, size_t len, char *msg, size_t msglen)
{
	size_t i = 0;

	if (!is_ident_start((unsigned char)seg[0]))
		goto bad;
	while (i < len && seg[i] != '[') {
		if (!is_ident_start((unsigned char)seg[i]) && !is_digit((unsigned char)seg[i]))
			goto bad;
		i++;
	}
	while (i < len) {
		size_t digits = 0;

		if (seg[i++] != '[')
			goto bad;
		while (i < len && is_digit((unsigned char)seg[i])) {
			i++;
			digits++;
		}
		/* at most 10 digits keeps an index inside u32 checks' reach */
		if (digits == 0 || digits > 10 || i >= len || seg[i] != ']')
			goto bad;
		i++;
	}
	return 0;
bad:
	return reject(msg, msglen,
	              "field segment '%.*s' must be a C identifier with optional [index] suffixes",
	              (int)len, seg);
}

int bpfmap_check_field(const char *s, size_t len, char *msg, size_t msglen)
{
	static const char arg[] = "field";
	size_t i, start;
	int err;

	if (len == 0)
		return reject(msg, msglen, "%s must not be empty", arg);
	if (s[0] == '.' || s[len - 1] == '.')
		return reject(msg, msglen, "%s must not start or end with '.'", arg);
	for (i = 0; i + 1 < len; i++)
		if (s[i] == '.' && s[i + 1] == '.')
			return reject(msg, msglen, "%s must not contain '..' (empty path segment)", arg);
	err = check_charset(arg, s, len, msg, msglen);
	if (err)
		return err;
	for (start = 0, i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			err = check_segment(s + start, i - start, msg, msglen);
			if (err)
				return err;
			start = i + 1;
		}
	}
	return 0;
}

int bpfmap_check_map_name(const char *arg, const char *s, size_t len,
                          char *msg, size_t msglen)
{
	size_t i;

	if (len > BPFMAP_OBJ_NAME_MAX)
		return reject(msg, msglen, "%s must be at most %d bytes (got %zu)",
		              arg, BPFMAP_OBJ_NAME_MAX, len);
	/* The same alphabet as the kernel's bpf_obj_name_cpy(). */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_ident_start(c) && !is_digit(c) && c != '.')
			return reject(msg, msglen,
			              "%s may hold only letters, digits, '_' and '.' (byte %zu is 0x%02x)",
			              arg, i, c);
	}
	return 0;
}

int bpfmap_check_path(const char *arg, const char *s, size_t len,
                      char *msg, size_t msglen)
{
	size_t i;

	if (len == 0)
		return reject(msg, msglen, "%s must not be empty", arg);
	for (i = 0; i < len; i++)
		if (s[i] == '\0')
			return reject(msg, msglen, "%s must not contain an embedded NUL (byte %zu)", arg, i);
	return 0;
}
