--- bpfmap: BPF maps from Lua 5.4, on libbpf.
--
-- The C core (`bpfmap.core`) holds the types (MapData, MapInfo, BpfMapWrite)
-- and every syscall; this layer adds what is easier to say in Lua: the
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
}

local ENOENT = core.errno.ENOENT
local apply_once, monotonic, sleep = core.apply_once, core.monotonic, core.sleep
local DEFAULT_INTERVAL = 0.1

--- Apply a batch of BpfMapWrite, all or nothing.
-- opts: map (MapData or id) | maps (list) | prog (id or name) to narrow the
-- candidate maps; atomic (refuse read-modify-write); timeout (seconds to keep
-- retrying while a map or field is not there yet, default 0); interval
-- (seconds between tries, default 0.1).
-- Returns the report (a list, one entry per write), or nil, message, errno.
function M.apply_writes(writes, opts)
  local report, msg, err = apply_once(writes, opts) -- raises on bad arguments
  if report or err ~= ENOENT or not opts or not opts.timeout or opts.timeout == 0 then
    return report, msg, err
  end
  local timeout, interval = opts.timeout, opts.interval or DEFAULT_INTERVAL
  local deadline = monotonic() + timeout
  while true do
    local left = deadline - monotonic()
    if left <= 0 then
      return nil, string.format("%s (gave up after %gs)", msg, timeout), err
    end
    sleep(math.min(interval, left))
    report, msg, err = apply_once(writes, opts)
    if report or err ~= ENOENT then
      return report, msg, err
    end
  end
end

--- w:apply(opts): apply_writes({ w }, opts), without building the list
core.BpfMapWrite.methods.apply = M.apply_writes

return M
