-- bench/peers/ljsyscall.lua: the LuaJIT + ljsyscall peer (Debian luajit,
-- lua-ljsyscall), run with `luajit`.
--
--   luajit ljsyscall.lua update|lookup PIN ITERS RUNS
--   luajit ljsyscall.lua walk PIN RUNS
--   luajit ljsyscall.lua store PIN OFFSET ITERS RUNS
--
-- ljsyscall has no bpf_obj_get helper: the map is opened by its pinned path
-- with its raw S.bpf(OBJ_GET) and the union bpf_attr it declares. Element
-- operations are S.bpf_map_op with FFI buffers (u32 key, u64 value, keys
-- cycling over 0..1023 as every peer does). It has no batch command, so a
-- full read is get_next_key + lookup. `store` maps the array's memory with
-- S.mmap and stores a u32 at OFFSET, which the caller must compute by hand
-- (ljsyscall knows no BTF).
--
-- Output: one line "lj_<mode>_ns <ns per op or element>" per timed run,
-- after one untimed warm-up run. Clock: CLOCK_PROCESS_CPUTIME_ID (user +
-- system time of this process: waiting for a shared CPU does not count).

local S = require "syscall"
local ffi = require "ffi"
local c, t = S.c, S.t

local mode, pin = arg[1], arg[2]
local function num(s, what)
  local v = tonumber(s)
  if not v or v < 0 or v ~= math.floor(v) then
    io.stderr:write("ljsyscall peer: bad ", what, " '", tostring(s), "'\n")
    os.exit(2)
  end
  return v
end

local function now_ns()
  local ts = assert(S.clock_gettime(c.CLOCK.PROCESS_CPUTIME_ID))
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local function obj_get(path)
  local attr = t.bpf_attr1()
  local cpath = ffi.new("char[?]", #path + 1, path)
  attr[0].pathname = ffi.cast("uint64_t", ffi.cast("void *", cpath))
  local fd = S.bpf(c.BPF_CMD.OBJ_GET, attr)
  if fd < 0 then
    io.stderr:write("ljsyscall peer: OBJ_GET ", path, ": ", tostring(S.t.error(ffi.errno())), "\n")
    os.exit(1)
  end
  return fd
end

local fd = obj_get(pin)
local KEYS = 1024
local key = ffi.new("uint32_t[1]")
local val = ffi.new("uint64_t[1]")
local UPDATE, LOOKUP = c.BPF_CMD.MAP_UPDATE_ELEM, c.BPF_CMD.MAP_LOOKUP_ELEM
local NEXT = c.BPF_CMD.MAP_GET_NEXT_KEY
local op = S.bpf_map_op

local run, iters, runs
if mode == "update" or mode == "lookup" then
  iters, runs = num(arg[3], "ITERS"), num(arg[4], "RUNS")
  local cmd = mode == "update" and UPDATE or LOOKUP
  run = function(n)
    local t0 = now_ns()
    for i = 0, n - 1 do
      key[0] = i % KEYS
      if mode == "update" then val[0] = i end
      local ok, err = op(cmd, fd, key, val, 0)
      if not ok then error(mode .. ": " .. tostring(err)) end
    end
    return (now_ns() - t0) / n
  end
elseif mode == "walk" then
  runs = num(arg[3], "RUNS")
  local cur, nxt = ffi.new("uint32_t[1]"), ffi.new("uint32_t[1]")
  local expected
  run = function()
    local n, prev = 0, nil
    local t0 = now_ns()
    while true do
      local ok = op(NEXT, fd, prev, nxt)
      if not ok then break end
      cur[0] = nxt[0]
      prev = cur
      if op(LOOKUP, fd, cur, val) then n = n + 1 end
    end
    local dt = now_ns() - t0
    expected = expected or n
    if n ~= expected or n == 0 then error("walk read " .. n .. " elements, expected " .. expected) end
    return dt / n
  end
  iters = 1
elseif mode == "store" then
  local offset = num(arg[3], "OFFSET")
  iters, runs = num(arg[4], "ITERS"), num(arg[5], "RUNS")
  local page = S.getpagesize()
  local mem = assert(S.mmap(nil, page, "read, write", "shared", fd, 0))
  local p = ffi.cast("volatile uint32_t *", ffi.cast("char *", mem) + offset)
  run = function(n)
    local t0 = now_ns()
    for i = 0, n - 1 do p[0] = i end
    return (now_ns() - t0) / n
  end
else
  io.stderr:write("usage: luajit ljsyscall.lua update|lookup PIN ITERS RUNS | walk PIN RUNS"
    .. " | store PIN OFFSET ITERS RUNS\n")
  os.exit(2)
end

print(string.format("# ljsyscall %s %s iters %d runs %d (%s)", mode, pin, iters, runs, jit.version))
run(iters)
for _ = 1, runs do
  io.write(string.format("lj_%s_ns %.4f\n", mode, run(iters)))
end
S.close(fd)
