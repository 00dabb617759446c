--- bpfmap: BPF maps from Lua 5.4, on libbpf.
--
-- The C core (`bpfmap.core`) holds the types (MapData, MapInfo, BpfMapWrite,
-- Btf, Object, Signal) and every syscall; this layer adds what is easier to say in Lua: the
-- wait-until-it-resolves loop of apply_writes, whose sleeps let a REPL's
-- Ctrl-C through. See README.md for the API with examples.
--
--   local bpfmap = require "bpfmap"
--   local m = assert(bpfmap.MapData.create({ type = "array", key_size = 4,
--                                           value_size = 8, max_entries = 1 }, "demo"))
--   print(m, m:info().type)
--   local w = bpfmap.BpfMapWrite.new(".bss", "crash", 1)
--   local report = assert(w:apply({ timeout = 5 }))

local core = require "bpfmap.core"

local M = {
  _VERSION = "bpfmap scm",
  MapData = core.MapData,
  BpfMapWrite = core.BpfMapWrite,
  Btf = core.Btf,
  errno = core.errno,
  loaded_maps = core.loaded_maps,
  list_maps = core.list_maps,
  list_programs = core.list_programs,
  set_log = core.set_log,
  last_log = core.last_log,
  clear_cache = core.clear_cache,
  Object = core.Object,
  Signal = core.Signal,
  spawn = core.spawn,
  -- seconds on CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns() and of a
  -- scenario's times), and a sleep that returns early on a signal
  monotonic = core.monotonic,
  sleep = core.sleep,
}

local ENOENT = core.errno.ENOENT
local apply_once, monotonic, sleep = core.apply_once, core.monotonic, core.sleep
local DEFAULT_INTERVAL = 0.1

-- bpfmap.apply_writes (C) hands over here when a first attempt found no map
-- or field yet (ENOENT) and opts.timeout asks to wait: the program may load
-- after the script starts. Only ENOENT is retried; the arguments were
-- checked by the first attempt.
core.set_retry(function(writes, opts, msg)
  local timeout, interval = opts.timeout, opts.interval or DEFAULT_INTERVAL
  local deadline = monotonic() + timeout
  while true do
    local left = deadline - monotonic()
    if left <= 0 then
      return nil, string.format("%s (gave up after %gs)", msg, timeout), ENOENT
    end
    sleep(math.min(interval, left))
    local report, err, errno = apply_once(writes, opts)
    if report or errno ~= ENOENT then
      return report, err, errno
    end
    msg = err
  end
end)

--- Apply a batch of BpfMapWrite, all or nothing; w:apply(opts) is the same
-- for one write. opts: map (MapData or id) | maps (list) | prog (id or name)
-- narrow the candidate maps; atomic (refuse read-modify-write); timeout
-- (seconds to keep retrying while a map or field is not there yet, default
-- 0); interval (seconds between tries, default 0.1); report (default true).
-- Returns the report (a list, one entry per write), or nil, message, errno.
M.apply_writes = core.apply_writes

--- A binary key or value as hex bytes, for people: bpfmap.hex("\1\0\0\0")
-- is "01 00 00 00"; sep (default " ") goes between bytes, so
-- bpfmap.hex(s, "") is "01000000". A per-CPU value (a list of strings)
-- gives one line per CPU, "cpu0: ...". nil passes through, so
-- =bpfmap.hex(m:lookup(k)) at a REPL shows a missing key as nil.
function M.hex(value, sep)
  if sep == nil then
    sep = " "
  elseif type(sep) ~= "string" then
    error(string.format("bad argument #2 to 'hex' (string expected, got %s)", type(sep)), 2)
  end
  if value == nil then return nil end
  if type(value) == "table" then
    local lines = {}
    for i, v in ipairs(value) do lines[i] = string.format("cpu%d: %s", i - 1, M.hex(v, sep)) end
    return table.concat(lines, "\n")
  end
  if type(value) ~= "string" then
    error(string.format("bad argument #1 to 'hex' (string or list of strings expected, got %s)",
      type(value)), 2)
  end
  local t = {}
  for i = 1, #value do t[i] = string.format("%02x", value:byte(i)) end
  return table.concat(t, sep)
end

-- bpfmap.scenario is loaded on first use: it requires this module itself.
setmetatable(M, { __index = function(t, k)
  if k == "scenario" then
    local s = require "bpfmap.scenario"
    rawset(t, k, s)
    return s
  end
end })

return M
