-- make demo, part 2: BpfMapWrite.
-- Load examples/bpf/knobs.bpf.o with bpftool (bpfmap cannot load objects
-- yet), then set its globals by name: `crash` in .bss, and a nested field
-- of a struct in .data.  Each write is resolved through the map's BTF and
-- stored with one aligned store through the map's mmap.
local bpfmap = require "bpfmap"
local common = require "examples.common"

local obj = arg[1] or "build/examples/knobs.bpf.o"
local dir, cleanup = common.private_bpffs()
local ok, err = pcall(function()
  common.sh(string.format("bpftool prog loadall %s %s/progs pinmaps %s/maps", obj, dir, dir))
  local prog = common.sh("bpftool prog show pinned " .. dir .. "/progs/count_getpid"):match("^(%d+):")
  prog = math.tointeger(tonumber(prog))
  print("loaded program count_getpid, id " .. prog)

  -- Narrow to our program: other programs on this machine may have a .bss
  -- with a `crash` of their own (bpfmap would say so: ENOTUNIQ).
  local writes = {
    bpfmap.BpfMapWrite.new(".bss", "crash", 1),
    bpfmap.BpfMapWrite.new(".data", "tuning.rate.limit", 250),
  }
  local report = assert(bpfmap.apply_writes(writes, { prog = prog }))
  for _, r in ipairs(report) do
    print(string.format("%-18s in %-12s offset %3d  %-6s %d -> %d  (%s, atomic=%s)",
      r.field, r.map, r.offset, r.type, r.before, r.after, r.method, tostring(r.atomic)))
  end

  -- A value the field cannot hold is refused before anything is written.
  local _, msg, errno = bpfmap.BpfMapWrite.new(".data", "tuning.rate.burst", 70000):apply({ prog = prog })
  print(string.format("too big   -> ERANGE? %s: %s", tostring(errno == bpfmap.errno.ERANGE), msg))
end)
cleanup()
if not ok then error(err, 0) end
