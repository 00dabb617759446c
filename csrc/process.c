/*
 * Signal (write-done) and child processes, for scenarios.
 *
 * A Signal is a one-shot outcome carried over a socket pair: the writer
 * sends one line, "ok\n" or "fail <reason>\n", and closes its end.  Waiters
 * peek at the line (recv MSG_PEEK) rather than read it, so any number of
 * them, in this process or in children that inherited the read end, see the
 * same outcome; a plain pipe would hand the line to the first reader only.
 * End of file with no line means the writer went away without an outcome
 * (its process died), which waiters take as a failure.
 *
 * spawn() starts a child with posix_spawn: listed descriptors are passed
 * at the same number (their close-on-exec flag cleared in the child only),
 * stdout and stderr are captured to pipes drained while waiting, and a
 * pidfd lets a wait sleep in poll() until the child exits.  An unreaped
 * child is killed and reaped by __gc / __close, so none outlives its handle.
 */
#define _GNU_SOURCE
#include "bpfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIGNAL_TYPE "bpfmap.Signal"
#define PROCESS_TYPE "bpfmap.Process"

/* A failure reason travels in one line; longer ones are cut here so the
 * writer's single send always fits the socket buffer and never blocks. */
#define REASON_MAX 4000
/* Captured output beyond this many bytes per stream is dropped (and the
 * status says so), so a chatty child cannot exhaust memory. */
#define CAPTURE_MAX (4u << 20)

extern char **environ;

/* ---- deadlines ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An optional timeout argument in seconds: nil waits for ever (-1). */
static double opt_timeout(lua_State *L, int arg)
{
	lua_Number t;

	if (lua_isnoneornil(L, arg))
		return -1;
	if (lua_type(L, arg) != LUA_TNUMBER)
		bpfmap_arg_error(L, arg, "timeout must be a number of seconds, got %s",
		                 luaL_typename(L, arg));
	t = lua_tonumber(L, arg);
	if (!(t >= 0 && t <= 1e9))
		bpfmap_arg_error(L, arg, "timeout must be in 0..1e9 seconds, got %s",
		                 luaL_tolstring(L, arg, NULL));
	return t;
}

/* Milliseconds poll() may sleep before deadline (-1: none), capped so a
 * loop re-checks now and then.  A timeout of up to 1e9 s is more
 * milliseconds than an int holds: the callers loop on poll's 0, so
 * INT_MAX (24 days) at a time is enough. */
static int poll_ms(double deadline, int cap)
{
	double left;

	if (deadline < 0)
		return cap;
	left = deadline - now_s();
	if (left <= 0)
		return 0;
	left = ceil(left * 1000);
	if (left > INT_MAX)
		left = INT_MAX;
	return left < cap || cap < 0 ? (int)left : cap;
}

/* ---- Signal ---- */

enum outcome { PENDING, OK, FAILED, VANISHED };

struct signal {
	int rfd;              /* waiters' end; -1 once closed */
	int wfd;              /* writer's end; -1 once settled or for from_fd */
	bool writer;          /* made by new(), so raise/fail are allowed */
	enum outcome outcome; /* as last seen by this handle */
	char reason[REASON_MAX + 1];
};

static struct signal *check_signal(lua_State *L)
{
	struct signal *s = luaL_checkudata(L, 1, SIGNAL_TYPE);

	if (s->rfd < 0)
		luaL_error(L, "attempt to use a closed Signal");
	return s;
}

static void signal_release(struct signal *s)
{
	if (s->wfd >= 0)
		close(s->wfd);
	if (s->rfd >= 0)
		close(s->rfd);
	s->wfd = s->rfd = -1;
}

static int signal_close(lua_State *L)
{
	signal_release(luaL_checkudata(L, 1, SIGNAL_TYPE));
	lua_pushboolean(L, 1);
	return 1;
}

static struct signal *new_signal(lua_State *L)
{
	struct signal *s = lua_newuserdatauv(L, sizeof(*s), 0);

	s->rfd = s->wfd = -1;
	s->writer = false;
	s->outcome = PENDING;
	s->reason[0] = '\0';
	luaL_setmetatable(L, SIGNAL_TYPE);
	return s;
}

/* Signal.new() -> sig, or nil, message, errno */
static int signal_new(lua_State *L)
{
	struct signal *s = new_signal(L);
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return bpfmap_fail(L, errno, "Signal.new: socketpair");
	/* one direction only: the writer never reads, waiters never write */
	shutdown(sv[0], SHUT_WR);
	shutdown(sv[1], SHUT_RD);
	s->rfd = sv[0];
	s->wfd = sv[1];
	s->writer = true;
	return 1;
}

/* Signal.from_fd(fd) -> sig: a waiter on an inherited read end, which stays
 * the caller's; the Signal owns a close-on-exec duplicate. */
static int signal_from_fd(lua_State *L)
{
	int fd = (int)bpfmap_check_range(L, 1, "fd", 0, INT_MAX);
	struct signal *s = new_signal(L);
	struct stat st;

	s->rfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (s->rfd < 0)
		return bpfmap_fail(L, errno, "Signal.from_fd %d", fd);
	if (fstat(s->rfd, &st)) {
		int err = errno;

		signal_release(s);
		return bpfmap_fail(L, err, "Signal.from_fd %d: fstat", fd);
	}
	if (!S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		signal_release(s);
		return bpfmap_fail_msg(L, EINVAL, lua_pushfstring(L,
			"Signal.from_fd %d: not a socket or pipe, so not a write-done signal", fd));
	}
	return 1;
}

static void settle_line(struct signal *s, const char *line, size_t len)
{
	if (len == 3 && !memcmp(line, "ok\n", 3)) {
		s->outcome = OK;
		return;
	}
	s->outcome = FAILED;
	if (len >= 5 && !memcmp(line, "fail ", 5)) {
		line += 5;
		len -= 5;
	}
	if (len && line[len - 1] == '\n')
		len--;
	if (len > REASON_MAX)
		len = REASON_MAX;
	memcpy(s->reason, line, len);
	s->reason[len] = '\0';
	if (!len)
		strcpy(s->reason, "(no reason given)");
}

/* Send the outcome line and close the writer's end. */
static int settle(lua_State *L, struct signal *s, const char *line, size_t len,
                  enum outcome outcome, const char *reason)
{
	ssize_t n;
	int err;

	do
		n = send(s->wfd, line, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	err = n < 0 ? errno : (size_t)n != len ? EIO : 0;
	close(s->wfd);
	s->wfd = -1;
	s->outcome = outcome;
	if (reason != s->reason)
		snprintf(s->reason, sizeof(s->reason), "%s", reason);
	if (err)
		return bpfmap_fail(L, err, "Signal %s: send", outcome == OK ? "raise" : "fail");
	lua_pushboolean(L, 1);
	return 1;
}

static void check_writer(lua_State *L, struct signal *s, const char *op)
{
	if (!s->writer)
		luaL_error(L, "Signal:%s: this Signal only waits (made by from_fd)", op);
	if (s->wfd < 0)
		luaL_error(L, "Signal:%s: already %s", op, s->outcome == OK ? "raised" : "failed");
}

/* sig:raise() -> true: every waiter's wait returns true */
static int signal_raise(lua_State *L)
{
	struct signal *s = check_signal(L);

	check_writer(L, s, "raise");
	return settle(L, s, "ok\n", 3, OK, "");
}

/* sig:fail(reason) -> true: every waiter's wait returns nil, reason */
static int signal_fail(lua_State *L)
{
	struct signal *s = check_signal(L);
	size_t len, i;
	const char *reason = luaL_checklstring(L, 2, &len);
	char line[REASON_MAX + 8];
	size_t n;

	check_writer(L, s, "fail");
	if (len > REASON_MAX)
		len = REASON_MAX;
	memcpy(line, "fail ", 5);
	n = 5;
	for (i = 0; i < len; i++) {
		char c = reason[i];

		/* one line on the wire: a newline or NUL in the reason cannot end it */
		line[n++] = c == '\n' || c == '\r' || c == '\0' ? ' ' : c;
	}
	line[n] = '\0';
	settle_line(s, line, n);   /* the reason as waiters will read it */
	line[n++] = '\n';
	return settle(L, s, line, n, FAILED, s->reason);
}

/*
 * Look at what the writer sent without consuming it: 1 when settled, 0 when
 * no whole line is there yet, or a negative errno.  Called only once poll()
 * said the descriptor is readable or hung up, so a read never blocks.
 * ended: the writer's end is closed, so a partial line is all there will
 * be.  A pipe cannot be peeked at: a from_fd on a pipe reads the line (this
 * handle then remembers it).
 */
static int peek_outcome(struct signal *s, bool ended)
{
	char buf[REASON_MAX + 8];
	const char *nl;
	bool pipe_end = false;
	ssize_t n;

	n = recv(s->rfd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && errno == ENOTSOCK) {
		pipe_end = true;
		n = read(s->rfd, buf, sizeof(buf) - 1);
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0) {
		s->outcome = VANISHED;
		return 1;
	}
	nl = memchr(buf, '\n', (size_t)n);
	if (nl) {
		settle_line(s, buf, (size_t)(nl - buf + 1));
		return 1;
	}
	/* a line cut short by a writer that died mid-send is a failure too */
	if (ended || pipe_end || (size_t)n >= sizeof(buf) - 1) {
		settle_line(s, buf, (size_t)n);
		return 1;
	}
	return 0;
}

static int push_outcome(lua_State *L, struct signal *s)
{
	switch (s->outcome) {
	case OK:
		lua_pushboolean(L, 1);
		return 1;
	case FAILED:
		lua_pushnil(L);
		lua_pushfstring(L, "write-done signal failed: %s", s->reason);
		lua_pushinteger(L, ECANCELED);
		return 3;
	default:
		lua_pushnil(L);
		lua_pushstring(L, "write-done signal failed: its writer closed without an outcome "
		                  "(the process that owned it died or dropped it)");
		lua_pushinteger(L, ECANCELED);
		return 3;
	}
}

/*
 * sig:wait([timeout]) -> true, or nil, message, errno: ECANCELED for a
 * failure (with its reason), ETIMEDOUT, or EINTR when a signal arrived, so
 * that a Lua loop (and its Ctrl-C) gets control back.
 */
static int signal_wait(lua_State *L)
{
	struct signal *s = check_signal(L);
	double timeout = opt_timeout(L, 2);
	double deadline = timeout < 0 ? -1 : now_s() + timeout;

	for (;;) {
		struct pollfd p = { .fd = s->rfd, .events = POLLIN | POLLRDHUP };
		int r;

		if (s->outcome != PENDING)
			return push_outcome(L, s);
		r = poll(&p, 1, poll_ms(deadline, -1));
		if (r < 0 && errno == EINTR)
			return bpfmap_fail(L, EINTR, "wait for write-done signal");
		if (r < 0)
			return bpfmap_fail(L, errno, "wait for write-done signal: poll");
		if (r == 0) {
			if (deadline >= 0 && now_s() >= deadline)
				return bpfmap_fail_msg(L, ETIMEDOUT, lua_pushfstring(L,
					"wait for write-done signal: timed out after %fs", timeout));
			continue;
		}
		r = peek_outcome(s, p.revents & (POLLHUP | POLLRDHUP | POLLERR));
		if (r < 0)
			return bpfmap_fail(L, -r, "wait for write-done signal: read");
		if (r == 0) {
			/* part of a line, its writer still there: do not spin on it */
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	}
}

/* sig:fd() -> the read end, for a child (spawn's opts.inherit) */
static int signal_fd(lua_State *L)
{
	lua_pushinteger(L, check_signal(L)->rfd);
	return 1;
}

static int signal_tostring(lua_State *L)
{
	struct signal *s = luaL_checkudata(L, 1, SIGNAL_TYPE);
	static const char *const names[] = { "pending", "raised", "failed", "writer gone" };

	if (s->rfd < 0)
		lua_pushliteral(L, "Signal (closed)");
	else if (s->outcome == FAILED)
		lua_pushfstring(L, "Signal fd %d: failed: %s", s->rfd, s->reason);
	else
		lua_pushfstring(L, "Signal fd %d: %s", s->rfd, names[s->outcome]);
	return 1;
}

/* ---- Process ---- */

struct capture {
	int fd;               /* parent's read end, or -1 */
	char *buf;
	size_t len, cap;
	bool truncated;
};

struct process {
	pid_t pid;            /* 0 once reaped */
	int pidfd;            /* -1 where pidfd_open is missing */
	bool captured;
	struct capture out, err;
	int status;           /* waitpid's, once reaped */
	bool reaped;
	char *name;           /* argv[0], for messages */
};

static struct process *check_process(lua_State *L)
{
	struct process *p = luaL_checkudata(L, 1, PROCESS_TYPE);

	if (!p->name)
		luaL_error(L, "attempt to use a closed Process");
	return p;
}

/* Read what is there now; false once the stream is at its end. */
static bool drain(struct capture *c)
{
	char chunk[16384];

	while (c->fd >= 0) {
		ssize_t n = read(c->fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0) {
			close(c->fd);
			c->fd = -1;
			return false;
		}
		if (c->len + (size_t)n > CAPTURE_MAX) {
			c->truncated = true;
			n = (ssize_t)(CAPTURE_MAX - c->len);
		}
		if (c->len + (size_t)n > c->cap) {
			size_t cap = c->cap ? c->cap : 4096;
			char *nb;

			while (cap < c->len + (size_t)n)
				cap *= 2;
			nb = realloc(c->buf, cap);
			if (!nb) {
				c->truncated = true;
				continue;
			}
			c->buf = nb;
			c->cap = cap;
		}
		memcpy(c->buf + c->len, chunk, (size_t)n);
		c->len += (size_t)n;
	}
	return false;
}

static bool try_reap(struct process *p, int flags)
{
	int st;
	pid_t r;

	if (p->reaped)
		return true;
	do
		r = waitpid(p->pid, &st, flags);
	while (r < 0 && errno == EINTR && !(flags & WNOHANG));
	if (r == p->pid || (r < 0 && errno == ECHILD)) {
		p->status = r == p->pid ? st : 0;
		p->reaped = true;
		if (p->pidfd >= 0)
			close(p->pidfd);
		p->pidfd = -1;
		return true;
	}
	return false;
}

static void capture_free(struct capture *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* Kill and reap a child still running, close everything. Idempotent. */
static void process_release(struct process *p)
{
	if (!p->name)
		return;
	if (!p->reaped) {
		kill(p->pid, SIGKILL);
		try_reap(p, 0);
	}
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	capture_free(&p->out);
	capture_free(&p->err);
	free(p->name);
	p->name = NULL;
}

static int process_close(lua_State *L)
{
	process_release(luaL_checkudata(L, 1, PROCESS_TYPE));
	lua_pushboolean(L, 1);
	return 1;
}

static const char *const spawn_opts[] = { "inherit", "env", "capture", NULL };

/* A NULL-terminated char*[] of n+1 slots, owned by a userdata left on the stack. */
static char **push_vector(lua_State *L, size_t n)
{
	char **v = lua_newuserdatauv(L, (n + 1) * sizeof(char *), 0);

	memset(v, 0, (n + 1) * sizeof(char *));
	return v;
}

/* The environment: this process's, with opts.env's names replaced or added.
 * The strings are anchored in a table left on the stack under the vector. */
static char **build_env(lua_State *L, int envarg)
{
	size_t n = 0, extra = 0, i, k = 0;
	char **v;
	int anchor;

	while (environ && environ[n])
		n++;
	lua_newtable(L);
	anchor = lua_gettop(L);
	if (envarg) {
		lua_pushnil(L);
		while (lua_next(L, envarg)) {
			size_t nlen, vlen;
			const char *name, *value;

			if (lua_type(L, -2) != LUA_TSTRING)
				bpfmap_arg_error(L, 2, "env keys must be variable names, got %s",
				                 luaL_typename(L, -2));
			name = lua_tolstring(L, -2, &nlen);
			if (!nlen || memchr(name, '=', nlen) || strlen(name) != nlen)
				bpfmap_arg_error(L, 2, "env name '%s' is empty or has '=' or NUL",
				                 bpfmap_show(L, -2));
			if (lua_type(L, -1) != LUA_TSTRING && !lua_isinteger(L, -1))
				bpfmap_arg_error(L, 2, "env value of '%s' must be a string or integer, got %s",
				                 name, luaL_typename(L, -1));
			value = lua_tolstring(L, -1, &vlen);  /* an integer turns into a string in place */
			if (strlen(value) != vlen)
				bpfmap_arg_error(L, 2, "env value of '%s' has an embedded NUL", name);
			lua_pushfstring(L, "%s=%s", name, value);
			lua_rawseti(L, anchor, (lua_Integer)++extra);
			lua_pop(L, 1);
		}
	}
	v = push_vector(L, n + extra);
	for (i = 0; i < n; i++) {
		size_t j;
		bool replaced = false;

		for (j = 1; j <= extra && !replaced; j++) {
			const char *e;

			lua_rawgeti(L, anchor, (lua_Integer)j);
			e = lua_tostring(L, -1);
			replaced = !strncmp(environ[i], e, (size_t)(strchr(e, '=') - e + 1));
			lua_pop(L, 1);
		}
		if (!replaced)
			v[k++] = environ[i];
	}
	for (i = 1; i <= extra; i++) {
		lua_rawgeti(L, anchor, (lua_Integer)i);
		v[k++] = (char *)lua_tostring(L, -1);  /* anchored by the table */
		lua_pop(L, 1);
	}
	return v;
}

/*
 * The file execvp would run for name, into path; 0 or an errno.  Resolved
 * here rather than left to posix_spawnp, whose report of a failed exec rests
 * on the child sharing memory with the parent (CLONE_VFORK): under valgrind
 * it does not, and a missing program would look like a child exiting 127.
 */
static int find_program(const char *name, char *path, size_t len)
{
	const char *dirs = getenv("PATH"), *d;
	int err = ENOENT;

	if (strchr(name, '/')) {
		if ((size_t)snprintf(path, len, "%s", name) >= len)
			return ENAMETOOLONG;
		return access(path, X_OK) ? errno : 0;
	}
	if (!dirs)
		dirs = "/bin:/usr/bin";
	for (d = dirs;; d++) {
		const char *end = strchrnul(d, ':');
		int n = (int)(end - d);
		struct stat st;

		/* an empty entry is the current directory, as for execvp */
		if ((size_t)snprintf(path, len, "%.*s%s%s", n, d, n ? "/" : "", name) < len &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(path, X_OK) == 0)
				return 0;
			err = EACCES;
		}
		if (!*end)
			return err;
		d = end;
	}
}

/*
 * spawn(argv, [opts]) -> Process, or nil, message, errno
 *   argv: { "prog", "arg", ... } (prog searched in PATH)
 *   opts.inherit: { fd, ... } passed at the same numbers
 *   opts.env: { NAME = value } added to (or replacing in) the environment
 *   opts.capture: true (default) captures stdout and stderr; false inherits
 */
static int spawn(lua_State *L)
{
	int argc, i, ninherit = 0, envarg = 0, err;
	bool capture = true;
	char **argv, **envp;
	int inherit[64];
	char path[PATH_MAX];
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	struct process *p;
	pid_t pid;

	luaL_checktype(L, 1, LUA_TTABLE);
	bpfmap_check_list(L, 1, 1, "argv must be a list of strings");
	argc = (int)lua_rawlen(L, 1);
	if (argc < 1)
		bpfmap_arg_error(L, 1, "argv must name a program (it is empty)");
	for (i = 1; i <= argc; i++) {
		size_t len;

		if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
			bpfmap_arg_error(L, 1, "argv[%d] must be a string, got %s", i, luaL_typename(L, -1));
		lua_tolstring(L, -1, &len);
		if (strlen(lua_tostring(L, -1)) != len)
			bpfmap_arg_error(L, 1, "argv[%d] has an embedded NUL", i);
		lua_pop(L, 1);
	}
	if (bpfmap_check_opt_keys(L, 2, spawn_opts)) {
		if (lua_getfield(L, 2, "capture") != LUA_TNIL) {
			if (!lua_isboolean(L, -1))
				bpfmap_arg_error(L, 2, "capture must be a boolean, got %s", luaL_typename(L, -1));
			capture = lua_toboolean(L, -1);
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "inherit") != LUA_TNIL) {
			int t = lua_gettop(L);

			if (!lua_istable(L, t))
				bpfmap_arg_error(L, 2, "inherit must be a list of descriptors, got %s",
				                 luaL_typename(L, t));
			bpfmap_check_list(L, 2, t, "inherit must be a list of descriptors");
			ninherit = (int)lua_rawlen(L, t);
			if (ninherit > (int)(sizeof(inherit) / sizeof(inherit[0])))
				bpfmap_arg_error(L, 2, "inherit lists %d descriptors, at most %d",
				                 ninherit, (int)(sizeof(inherit) / sizeof(inherit[0])));
			for (i = 1; i <= ninherit; i++) {
				lua_Integer fd;
				int isnum = 0;

				lua_rawgeti(L, t, i);
				fd = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isnum) : 0;
				if (!isnum || fd < 0 || fd > INT_MAX)
					bpfmap_arg_error(L, 2, "inherit[%d] must be a descriptor (0..%d), got %s",
					                 i, INT_MAX, bpfmap_show(L, -1));
				inherit[i - 1] = (int)fd;
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "env") != LUA_TNIL) {
			if (!lua_istable(L, -1))
				bpfmap_arg_error(L, 2, "env must be a table of NAME = value, got %s",
				                 luaL_typename(L, -1));
			envarg = lua_gettop(L);
		} else {
			lua_pop(L, 1);
		}
	}

	/* everything that can raise happens before any descriptor is made */
	argv = push_vector(L, (size_t)argc);
	for (i = 1; i <= argc; i++) {
		lua_rawgeti(L, 1, i);
		argv[i - 1] = (char *)lua_tostring(L, -1);  /* anchored by argv's table */
		lua_pop(L, 1);
	}
	envp = build_env(L, envarg);
	p = lua_newuserdatauv(L, sizeof(*p), 0);
	memset(p, 0, sizeof(*p));
	p->pidfd = p->out.fd = p->err.fd = -1;
	p->reaped = true;          /* nothing to reap until the spawn succeeds */
	luaL_setmetatable(L, PROCESS_TYPE);
	p->name = strdup(argv[0]);
	if (!p->name)
		return bpfmap_fail(L, ENOMEM, "spawn '%s'", argv[0]);

	err = find_program(argv[0], path, sizeof(path));
	if (err)
		return bpfmap_fail(L, err, "spawn '%s'", argv[0]);
	for (i = 0; i < ninherit; i++)
		if (fcntl(inherit[i], F_GETFD) < 0)
			return bpfmap_fail(L, errno, "spawn '%s': inherit descriptor %d", argv[0], inherit[i]);
	if (capture && (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC))) {
		err = errno;
		if (outp[0] >= 0) {
			close(outp[0]);
			close(outp[1]);
		}
		return bpfmap_fail(L, err, "spawn '%s': pipe", argv[0]);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* the child starts with default dispositions and nothing blocked,
	 * whatever this process ignores or blocks */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (capture) {
		posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
		posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	}
	/* dup2 onto itself clears close-on-exec in the child only (POSIX 2024,
	 * glibc 2.29): the parent's descriptor keeps its flag */
	for (i = 0; i < ninherit; i++)
		posix_spawn_file_actions_adddup2(&fa, inherit[i], inherit[i]);
	err = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (capture) {
		close(outp[1]);
		close(errp[1]);
	}
	if (err) {
		if (capture) {
			close(outp[0]);
			close(errp[0]);
		}
		return bpfmap_fail(L, err, "spawn '%s'", argv[0]);
	}
	p->pid = pid;
	p->reaped = false;
	p->captured = capture;
	if (capture) {
		p->out.fd = outp[0];
		p->err.fd = errp[0];
		fcntl(outp[0], F_SETFL, O_NONBLOCK);
		fcntl(errp[0], F_SETFL, O_NONBLOCK);
	}
	/* a descriptor that becomes readable when the child exits, so a wait
	 * sleeps in poll() instead of polling waitpid */
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd >= 0)
		fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
	return 1;
}

static void push_capture(lua_State *L, struct capture *c, const char *field)
{
	lua_pushlstring(L, c->buf ? c->buf : "", c->len);
	lua_setfield(L, -2, field);
	if (c->truncated) {
		lua_pushboolean(L, 1);
		lua_pushfstring(L, "%s_truncated", field);
		lua_insert(L, -2);
		lua_settable(L, -3);
	}
}

/* { code =, signal =, stdout =, stderr = } of a reaped child */
static int push_status(lua_State *L, struct process *p)
{
	lua_createtable(L, 0, 5);
	lua_pushinteger(L, p->pid);
	lua_setfield(L, -2, "pid");
	if (WIFEXITED(p->status)) {
		lua_pushinteger(L, WEXITSTATUS(p->status));
		lua_setfield(L, -2, "code");
	} else if (WIFSIGNALED(p->status)) {
		lua_pushinteger(L, WTERMSIG(p->status));
		lua_setfield(L, -2, "signal");
	}
	if (p->captured) {
		push_capture(L, &p->out, "stdout");
		push_capture(L, &p->err, "stderr");
	}
	return 1;
}

/*
 * p:wait([timeout]) -> { code = | signal =, stdout =, stderr = }, or nil,
 * message, errno (ETIMEDOUT, the child left running; EINTR on a signal).
 * Output is read while waiting, so a child never blocks on a full pipe.
 */
static int process_wait(lua_State *L)
{
	struct process *p = check_process(L);
	double timeout = opt_timeout(L, 2);
	double deadline = timeout < 0 ? -1 : now_s() + timeout;

	while (!p->reaped) {
		struct pollfd fds[3];
		int n = 0, r;

		if (p->pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
		if (p->out.fd >= 0)
			fds[n++] = (struct pollfd){ .fd = p->out.fd, .events = POLLIN };
		if (p->err.fd >= 0)
			fds[n++] = (struct pollfd){ .fd = p->err.fd, .events = POLLIN };
		if (try_reap(p, WNOHANG))
			break;
		if (deadline >= 0 && now_s() >= deadline) {
			drain(&p->out);
			drain(&p->err);
			return bpfmap_fail_msg(L, ETIMEDOUT, lua_pushfstring(L,
				"wait for pid %d (%s): timed out after %fs", (int)p->pid, p->name, timeout));
		}
		/* without a pidfd, look at waitpid every 10 ms */
		r = poll(fds, (nfds_t)n, poll_ms(deadline, p->pidfd >= 0 ? -1 : 10));
		if (r < 0 && errno == EINTR)
			return bpfmap_fail(L, EINTR, "wait for pid %d (%s)", (int)p->pid, p->name);
		if (r < 0)
			return bpfmap_fail(L, errno, "wait for pid %d (%s): poll", (int)p->pid, p->name);
		drain(&p->out);
		drain(&p->err);
	}
	/* after the exit: what is left in the pipes (a grandchild holding them
	 * open does not hold the wait up) */
	drain(&p->out);
	drain(&p->err);
	return push_status(L, p);
}

static const char *const signal_names[] = {
	"TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2", "STOP", "CONT", NULL,
};
static const int signal_numbers[] = {
	SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGSTOP, SIGCONT,
};

/* p:kill([signo]) -> true, or nil, message, errno.  signo: a number or
 * "TERM" (default), "KILL", "INT", ...  A reaped child's pid may belong to
 * another process by now, so it is never signalled. */
static int process_kill(lua_State *L)
{
	struct process *p = check_process(L);
	int sig = SIGTERM;

	if (lua_type(L, 2) == LUA_TSTRING)
		sig = signal_numbers[bpfmap_check_option(L, 2, NULL, signal_names)];
	else if (!lua_isnoneornil(L, 2))
		sig = (int)bpfmap_check_range(L, 2, "signal", 0, 64);
	if (p->reaped)
		return bpfmap_fail_msg(L, ESRCH, lua_pushfstring(L,
			"kill pid %d (%s): it has exited and been reaped", (int)p->pid, p->name));
	if (kill(p->pid, sig))
		return bpfmap_fail(L, errno, "kill pid %d (%s)", (int)p->pid, p->name);
	lua_pushboolean(L, 1);
	return 1;
}

static int process_pid(lua_State *L)
{
	lua_pushinteger(L, check_process(L)->pid);
	return 1;
}

static int process_tostring(lua_State *L)
{
	struct process *p = luaL_checkudata(L, 1, PROCESS_TYPE);

	if (!p->name)
		lua_pushliteral(L, "Process (closed)");
	else if (!p->reaped)
		lua_pushfstring(L, "Process %d (%s): running", (int)p->pid, p->name);
	else if (WIFSIGNALED(p->status))
		lua_pushfstring(L, "Process %d (%s): killed by signal %d", (int)p->pid, p->name,
		                WTERMSIG(p->status));
	else
		lua_pushfstring(L, "Process %d (%s): exited %d", (int)p->pid, p->name,
		                WEXITSTATUS(p->status));
	return 1;
}

static const luaL_Reg signal_methods[] = {
	{ "raise", signal_raise }, { "fail", signal_fail }, { "wait", signal_wait },
	{ "fd", signal_fd }, { "close", signal_close }, { NULL, NULL },
};

static const luaL_Reg process_methods[] = {
	{ "pid", process_pid }, { "wait", process_wait }, { "kill", process_kill },
	{ "close", process_close }, { NULL, NULL },
};

int bpfmap_process_open(lua_State *L)
{
	bpfmap_new_type(L, SIGNAL_TYPE, signal_methods, signal_close, signal_tostring);
	bpfmap_new_type(L, PROCESS_TYPE, process_methods, process_close, process_tostring);

	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, signal_new);
	lua_setfield(L, -2, "new");
	lua_pushcfunction(L, signal_from_fd);
	lua_setfield(L, -2, "from_fd");
	lua_setfield(L, -2, "Signal");
	lua_pushcfunction(L, spawn);
	lua_setfield(L, -2, "spawn");
	return 0;
}
