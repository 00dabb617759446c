-- Discovery by name (BpfMapWrite without opts.map) remembers the names of the
-- maps it has seen (csrc/discover.c): a map's name never changes and map ids
-- are not reused before 2^31 more maps, so a later walk rejects a map it
-- knows by name with one bpf() call (next id) instead of four (next id,
-- open, info, close).  Counted with strace in a child process, around a
-- marker write, since the kernel is shared and its map count moves.
local priv = require("spec.helpers.priv").bind(_ENV)
local bpffs = require "spec.helpers.bpffs"
local sh, quote = bpffs.sh, bpffs.quote

local CHILD = [[
local bpfmap = require "bpfmap"
local n, suffix = tonumber(arg[1]), arg[2]
local maps = {}
for i = 1, n do
  maps[i] = assert(bpfmap.MapData.create({ type = "array", key_size = 4, value_size = 8,
    max_entries = 1 }, string.format("bpfmapt_d%05d", i)))
end
local w = bpfmap.BpfMapWrite.new(suffix, "x", 1)
local function apply(mark)
  local _, _, errno = w:apply()
  assert(errno == bpfmap.errno.ENOENT)
  io.stderr:write(mark, "\n")
end
apply("BPFMAPT_MARK_COLD")
apply("BPFMAPT_MARK_WARM")
for i = 1, n do maps[i]:close() end
]]

-- bpf() commands of each apply, split at the marker writes.
local function count_commands(log)
  local phases, cur = {}, {}
  for line in log:gmatch("[^\n]+") do
    local cmd = line:match("bpf%((BPF_[%u_]+)")
    if cmd then
      cur[cmd] = (cur[cmd] or 0) + 1
    elseif line:find("BPFMAPT_MARK_", 1, true) then
      phases[line:match("BPFMAPT_MARK_(%u+)")] = cur
      cur = {}
    end
  end
  return phases
end

priv.describe("discovery by name #priv", function()
  local tmp
  setup(function() tmp = sh("mktemp -d /tmp/bpfmapdscXXXXXX"):gsub("%s+$", "") end)
  teardown(function() if tmp then sh("rm -rf " .. quote(tmp)) end end)

  it("opens no map it already knows by name on the next walk", function()
    local script, log = tmp .. "/child.lua", tmp .. "/strace.log"
    local f = assert(io.open(script, "w"))
    f:write(CHILD)
    f:close()
    local N = 100
    -- a suffix no map has, so no map is a candidate
    sh(string.format("strace -f -qq -e trace=bpf,write -o %s lua5.4 %s %d .bpfmapt_none",
      quote(log), quote(script), N))
    local phases = count_commands(assert(io.open(log)):read("a"))
    local cold, warm = assert(phases.COLD, "no cold phase"), assert(phases.WARM, "no warm phase")
    -- the first walk opens every map on the kernel, ours among them
    assert.is_true((cold.BPF_MAP_GET_FD_BY_ID or 0) >= N, "cold walk opened fewer maps than we made")
    -- the second opens only maps made between the two walks (by others on
    -- this shared kernel), never ours: far fewer than N
    assert.is_true((warm.BPF_MAP_GET_FD_BY_ID or 0) < N / 2,
      "warm walk opened " .. tostring(warm.BPF_MAP_GET_FD_BY_ID) .. " maps")
    assert.is_true((warm.BPF_MAP_GET_NEXT_ID or 0) >= N, "warm walk did not visit every map")
  end)
end)

-- A lua5.4 host whose allocator fails once a script-set headroom is used
-- up, so that every allocation a walk makes can be made to raise "not
-- enough memory"; also counts this process's descriptors, and the bytes
-- malloc'd outside Lua's allocator (mallinfo2 minus what Lua holds).
local LIMITED_HOST = [==[
/* A lua5.4 whose allocator fails past a limit the script sets. */
#define _GNU_SOURCE
#include <dirent.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static size_t used, limit = SIZE_MAX;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	size_t old = ptr ? osize : 0;
	void *p;

	(void)ud;
	if (nsize == 0) {
		free(ptr);
		used -= old;
		return NULL;
	}
	if (nsize > old && used - old + nsize > limit)
		return NULL;
	p = realloc(ptr, nsize);
	if (p)
		used = used - old + nsize;
	return p;
}

/* alloc_limit(headroom): fail allocations beyond headroom more bytes;
 * alloc_limit(): no limit */
static int alloc_limit(lua_State *L)
{
	limit = lua_isnoneornil(L, 1) ? SIZE_MAX : used + (size_t)luaL_checkinteger(L, 1);
	return 0;
}

/* bytes malloc'd outside Lua's allocator */
static int c_heap(lua_State *L)
{
	struct mallinfo2 mi = mallinfo2();

	lua_pushinteger(L, (lua_Integer)(mi.uordblks + mi.hblkhd) - (lua_Integer)used);
	return 1;
}

static int open_fds(lua_State *L)
{
	DIR *d = opendir("/proc/self/fd");
	int n = -1;   /* the directory's own */

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	lua_pushinteger(L, n - 2);   /* . and .. */
	return 1;
}

int main(int argc, char **argv)
{
	lua_State *L = lua_newstate(limited_alloc, NULL);
	int i;

	luaL_openlibs(L);
	lua_register(L, "alloc_limit", alloc_limit);
	lua_register(L, "c_heap", c_heap);
	lua_register(L, "open_fds", open_fds);
	lua_createtable(L, argc, 0);
	for (i = 2; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - 1);
	}
	lua_setglobal(L, "arg");
	if (luaL_dofile(L, argv[1])) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		return 1;
	}
	lua_close(L);
	return 0;
}
]==]

-- Each walk with every headroom from 0 up to success: a raise at any
-- allocation must leave no descriptor open and no C buffer behind once the
-- garbage is collected.  Our maps, so that discovery has candidates to open.
local LIMITED_CHILD = [==[
local bpfmap = require "bpfmap"
local E, W = bpfmap.errno, bpfmap.BpfMapWrite.new
local prog, bss1, bss2 = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3])
local mine = {}
for i = 1, 20 do
  mine[i] = assert(bpfmap.MapData.create({ type = "array", key_size = 4, value_size = 8,
    max_entries = 1 }, "bpfmapt_fw.dsc"))
end
local by_name = W(".dsc", "bpfmapt_fw_nofield", 1)
local by_prog = W(".bss", "crash", 1)
local ops = {
  list_maps = function() assert(bpfmap.list_maps()) end,
  loaded_maps = function() for info in bpfmap.loaded_maps() do local _ = info.id end end,
  list_programs = function() assert(bpfmap.list_programs()) end,
  apply_discovery = function()
    local _, err, code = by_name:apply()
    assert(code == E.ENOENT, err)
  end,
  apply_prog = function() assert(by_prog:apply({ prog = prog })) end,
  apply_ambiguous = function()
    local _, err, code = by_prog:apply({ maps = { bss1, bss2 } })
    assert(code == E.ENOTUNIQ, err)
  end,
}
local function settle()
  collectgarbage()
  collectgarbage()
end
for _, name in ipairs({ "list_maps", "loaded_maps", "list_programs", "apply_discovery",
  "apply_prog", "apply_ambiguous" }) do
  local op = ops[name]
  op()
  op()
  settle()
  local fds, heap = open_fds(), c_heap()
  local headroom, failures = 0, 0
  while true do
    alloc_limit(headroom)
    local ok, err = pcall(op)
    alloc_limit()
    if ok then break end
    assert(tostring(err):find("not enough memory", 1, true), tostring(err))
    failures = failures + 1
    headroom = headroom + math.max(8, headroom // 32)
  end
  settle()
  print(string.format("%s failures=%d fds=%d heap=%d", name, failures, open_fds() - fds,
    c_heap() - heap))
end
for i = 1, #mine do mine[i]:close() end
]==]

priv.describe("walks that raise for lack of memory #priv", function()
  local bpfobj = require "spec.helpers.bpfobj"
  local tmp, a, b
  setup(function()
    tmp = sh("mktemp -d /tmp/bpfmapfwXXXXXX"):gsub("%s+$", "")
    a = bpfobj.load("build/fixtures/other.bpf.o")
    b = bpfobj.load("build/fixtures/other.bpf.o")
  end)
  teardown(function()
    if a then a:unload() end
    if b then b:unload() end
    if tmp then sh("rm -rf " .. quote(tmp)) end
  end)

  it("leak no descriptor and no buffer, whichever allocation fails", function()
    local host, script = tmp .. "/host", tmp .. "/child.lua"
    local f = assert(io.open(tmp .. "/host.c", "w"))
    f:write(LIMITED_HOST)
    f:close()
    f = assert(io.open(script, "w"))
    f:write(LIMITED_CHILD)
    f:close()
    sh(string.format("cc -std=gnu11 -O1 -g -Wall -Wextra -Werror -I/usr/include/lua5.4 -o %s %s -llua5.4",
      quote(host), quote(tmp .. "/host.c")))
    local out = sh(string.format("%s %s %d %d %d", quote(host), quote(script), a.progs[1].id,
      a:map(".bss").id, b:map(".bss").id))
    local seen = 0
    for name, failures, fds, heap in out:gmatch("(%S+) failures=(%d+) fds=(%-?%d+) heap=(%-?%d+)") do
      seen = seen + 1
      failures, fds, heap = tonumber(failures), tonumber(fds), tonumber(heap)
      assert.is_true(failures >= 10, name .. ": only " .. failures .. " allocations failed")
      assert.equal(0, fds, name .. ": descriptors leaked")
      -- glibc's caches move by a few KB; a walk's lost list of names is
      -- 5 KB per failure
      assert.is_true(heap < 32768, name .. ": " .. heap .. " bytes of C heap leaked")
    end
    assert.equal(6, seen, out)
  end)
end)
