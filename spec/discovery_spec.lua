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
