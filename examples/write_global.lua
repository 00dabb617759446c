-- make demo, part 2: a program's globals and maps, by name.
-- Load examples/bpf/knobs.bpf.o with bpfmap.Object (not attached: nothing
-- here needs it to run), then set its globals by name with BpfMapWrite:
-- `crash` in .bss and a nested field of a struct in .data, as one
-- all-or-nothing batch, each resolved through the map's BTF and stored with
-- one aligned store through the map's mmap. Then the same maps as values:
-- a whole section read as a table, and a hash map's entry written by field,
-- its enum by the enumerator's name.
local bpfmap = require "bpfmap"
local common = require "examples.common"

local path = arg[1] or "build/examples/knobs.bpf.o"
local obj <close> = assert(bpfmap.Object.open(path))
assert(obj:load())
local prog = assert(obj:program("count_getpid"))
print(string.format("loaded %s: program %s, id %d", path, prog:name(), prog:id()))

-- Narrowed to this object's program: other programs on this machine (another
-- run of this example, say) may have a .bss with a `crash` of their own, and
-- bpfmap refuses to guess between them (ENOTUNIQ).
local writes = {
  bpfmap.BpfMapWrite.new(".bss", "crash", 1),
  bpfmap.BpfMapWrite.new(".data", "tuning.rate.limit", 250),
}
local report = assert(bpfmap.apply_writes(writes, { prog = prog:id() }))
for _, r in ipairs(report) do
  print(string.format("%-18s in %-12s offset %3d  %-6s %d -> %d  (%s, atomic=%s)",
    r.field, r.map, r.offset, r.type, r.before, r.after, r.method, tostring(r.atomic)))
end

-- A value the field cannot hold is refused before anything is written.
-- A MapData narrows as well as a program does: obj:map(".data") is this
-- object's own .data.
local data <close> = assert(obj:map(".data"))
local _, msg, errno = bpfmap.BpfMapWrite.new(".data", "tuning.rate.burst", 70000):apply({ map = data })
print(string.format("too big   -> ERANGE? %s: %s", tostring(errno == bpfmap.errno.ERANGE), msg))

-- The section as a table, decoded through its BTF.
local t = data:read().tuning
print(string.format("tuning    -> sample_every=%d rate.burst=%d rate.limit=%d", t.sample_every,
  t.rate.burst, t.rate.limit))

-- A hash map of `struct knob { enum mode mode; __u32 level; }` keyed by
-- tgid: write an entry by field (a new key: the fields not named are zero),
-- the enum by name; read it back.
local knobs <close> = assert(obj:map("knobs_by_tgid"))
local pid = common.pid()
local key = string.pack("<I4", pid)
assert(knobs:write({ mode = "MODE_OFF", level = 3 }, key))
local k = knobs:read(key)
print(string.format("knobs_by_tgid[%d] -> mode=%s level=%d (mode as a number: %d)", pid, k.mode, k.level,
  knobs:get("mode", key)))
