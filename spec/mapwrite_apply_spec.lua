-- BpfMapWrite:apply and bpfmap.apply_writes on real programs' maps.
--
-- globals.bpf.o is loaded with bpftool into a private bpffs; after each
-- write the bytes are read back with bpftool (the witness), at offsets that
-- bpftool's own BTF dump gives, so neither side of the check is bpfmap.
-- Other programs' maps (other .bss among them) may be loaded on this
-- machine: writes are narrowed to our program, or use a field name only our
-- fixture has: its bpfmap_marker, renamed for this run, so that another run
-- of the suite on the same kernel cannot make discovery by name ambiguous.
local bpfmap = require "bpfmap"
local priv = require("spec.helpers.priv").bind(_ENV)
local bpfobj = require "spec.helpers.bpfobj"
local bpffs = require "spec.helpers.bpffs"

local E = bpfmap.errno
local W = bpfmap.BpfMapWrite.new
local MARKER = string.format("bpfmap_mk_%06x", math.random(0, 0xffffff))
local built
-- globals.bpf.o with bpfmap_marker renamed to MARKER, compiled on first use.
local function GLOBALS()
  built = built or bpfobj.compile("spec/fixtures/globals.bpf.c", { bpfmap_marker = MARKER })
  return built.path
end
teardown(function()
  if built then built:cleanup() end
end)
local OTHER = "build/fixtures/other.bpf.o"

-- Run fn with the collector doing a full cycle at every step, so that
-- finalisers run inside the allocations bpfmap makes; restore the mode.
local function under_gc_pressure(fn)
  local mode = collectgarbage("incremental", 0, 1000)  -- pause 0
  collectgarbage()   -- the pause takes effect from the next cycle
  local ok, err = pcall(fn)
  if mode == "generational" then collectgarbage("generational")
  else collectgarbage("incremental", 200, 100) end
  return ok, err
end

-- Little-endian integer of `fmt` (string.pack format) at byte offset `off`.
local function int_at(bytes, off, fmt)
  return (string.unpack("<" .. fmt, bytes, off + 1))
end

priv.describe("BpfMapWrite:apply #priv", function()
  local obj, prog, bss, data, custom, rodata, var

  setup(function()
    obj = bpfobj.load(GLOBALS())
    prog = obj.progs[1].id
    bss, data = obj:map(".bss").id, obj:map("globals.data").id
    custom, rodata = obj:map(".data.custom").id, obj:map(".rodata").id
    var = bpfobj.var_offsets(bpfobj.map_show(bss).btf_id, ".bss")
  end)
  teardown(function() obj:unload() end)

  local function apply(field, value, opts)
    opts = opts or { prog = prog }
    return W(".bss", field, value):apply(opts)
  end

  -- Write, then check the report and the bytes bpftool sees.
  local function writes(field, value, offset, fmt, want_type)
    local before = bpfobj.map_bytes(bss)
    local report, err = apply(field, value)
    assert.is_nil(err)
    local r = report[1]
    assert.equal(offset, r.offset)
    assert.equal(string.packsize(fmt), r.size)
    assert.equal(value, int_at(bpfobj.map_bytes(bss), offset, fmt))
    assert.equal(int_at(before, offset, fmt), r.before)
    assert.equal(value, r.after)
    assert.equal("mmap", r.method)
    assert.is_true(r.atomic)
    assert.equal("globals.bss", r.map)
    assert.equal(bss, r.map_id)
    assert.equal(field, r.field)
    if want_type then assert.equal(want_type, r.type) end
    -- nothing outside the field changed
    local after = bpfobj.map_bytes(bss)
    assert.equal(before:sub(1, offset), after:sub(1, offset))
    assert.equal(before:sub(offset + r.size + 1), after:sub(offset + r.size + 1))
    return r
  end

  local function refuses(field, value, errno, message, opts)
    local before = bpfobj.map_bytes(bss)
    local report, err, code = apply(field, value, opts)
    assert.is_nil(report)
    assert.equal(errno, code, err)
    assert.is_truthy(err:find(message, 1, true), err)
    assert.equal(before, bpfobj.map_bytes(bss), "bytes changed after a refused write")
    return err
  end

  describe("integers of every width and signedness", function()
    it("writes the extremes", function()
      writes("u8v", 255, var.u8v, "I1", "__u8")
      writes("s8v", -128, var.s8v, "i1", "__s8")
      writes("u16v", 65535, var.u16v, "I2", "__u16")
      writes("s16v", -32768, var.s16v, "i2", "__s16")
      writes("u32v", 4294967295, var.u32v, "I4", "__u32")
      writes("s32v", -2147483648, var.s32v, "i4", "__s32")
      writes("s64v", math.mininteger, var.s64v, "i8", "__s64")
      writes("s64v", math.maxinteger, var.s64v, "i8")
      writes("u64v", math.maxinteger, var.u64v, "i8", "__u64")
    end)

    it("reports signedness", function()
      assert.is_true(writes("s16v", -2, var.s16v, "i2").signed)
      assert.is_false(writes("u16v", 2, var.u16v, "I2").signed)
    end)

    it("takes a u64 as Lua's two's complement (0xffffffffffffffff == -1)", function()
      local r = writes("u64v", -1, var.u64v, "i8")
      assert.equal(0xffffffffffffffff, r.after)
      assert.equal(string.rep("\255", 8), bpfobj.map_bytes(bss):sub(var.u64v + 1, var.u64v + 8))
    end)

    it("refuses values outside the field's range with ERANGE, writing nothing", function()
      refuses("u8v", 256, E.ERANGE, "value 256 out of range 0..255")
      refuses("u8v", -1, E.ERANGE, "value -1 out of range 0..255")
      refuses("s8v", 128, E.ERANGE, "value 128 out of range -128..127")
      refuses("s8v", -129, E.ERANGE, "out of range -128..127")
      refuses("u16v", 65536, E.ERANGE, "out of range 0..65535")
      refuses("s16v", -32769, E.ERANGE, "out of range -32768..32767")
      refuses("u32v", 1 << 32, E.ERANGE, "out of range 0..4294967295")
      refuses("u32v", -1, E.ERANGE, "out of range 0..4294967295")
      refuses("s32v", 1 << 31, E.ERANGE, "out of range -2147483648..2147483647")
      local err = refuses("u8v", 300, E.ERANGE, "write .bss u8v=300")
      assert.is_truthy(err:find("map 'globals.bss' (id " .. bss .. ") field 'u8v' (__u8 at offset "
        .. var.u8v .. ")", 1, true), err)
    end)
  end)

  describe("other leaves", function()
    it("bool takes 0 and 1 only", function()
      writes("flag", 1, var.flag, "I1", "_Bool")
      writes("flag", 0, var.flag, "I1")
      refuses("flag", 2, E.ERANGE, "out of range 0..1")
      refuses("flag", -1, E.ERANGE, "out of range 0..1")
    end)

    it("enum takes its enumerators and any value of its width", function()
      writes("mode", 2, var.mode, "I4", "enum run_mode")
      writes("mode", 0x7f, var.mode, "I4")
      writes("mode", 4294967295, var.mode, "I4")
      refuses("mode", 1 << 32, E.ERANGE, "out of range")
    end)

    it("strips a typedef chain and volatile, reporting the declared type", function()
      writes("typedefd", 123456, var.typedefd, "I4", "my_u32_2")
      writes("vint", -5, var.vint, "i4", "volatile int")
    end)
  end)

  describe("paths", function()
    it("descends into nested structs", function()
      writes("stats.count", 77, var.stats, "I8")
      writes("stats.inner.limit", 1000, var.stats + 8, "I4")
      writes("stats.inner.lat", 9, var.stats + 12, "I2")
      writes("stats.lim.hi", 31, var.stats + 20, "I4")
    end)

    it("finds members of anonymous unions and structs as C does", function()
      writes("cfg.kind", 1, var.cfg, "I4")
      writes("cfg.as_u32", 0xdeadbeef, var.cfg + 4, "I4")
      writes("cfg.lo", 0x1234, var.cfg + 8, "I2")
      writes("cfg.hi", 0x5678, var.cfg + 10, "I2")
    end)

    it("indexes arrays, multi-dimensional ones too", function()
      writes("slots[2].y", 42, var.slots + 2 * 8 + 4, "I4")
      writes("slots[0].x", 41, var.slots, "I4")
      writes("arr[7]", 8, var.arr + 28, "I4")
      writes("grid[2][3]", 200, var.grid + 2 * 4 + 3, "I1")
      writes("cfg.as_bytes[3]", 0xab, var.cfg + 7, "I1")
    end)

    it("bounds-checks indices (ENOENT)", function()
      refuses("slots[4].x", 1, E.ENOENT, "'slots[4]': index 4 out of bounds (the array has 4 elements)")
      refuses("arr[8]", 1, E.ENOENT, "index 8 out of bounds")
      refuses("grid[3][0]", 1, E.ENOENT, "index 3 out of bounds")
      refuses("grid[0][4]", 1, E.ENOENT, "index 4 out of bounds")
      refuses("arr[4294967296]", 1, E.ENOENT, "index 4294967296 out of bounds")
    end)

    it("writes the plain member after a bitfield", function()
      writes("bits.c", 5, var.bits + 4, "I4")
    end)

    it("writes the member after a pointer, never through it", function()
      writes("wp.after", 6, var.wp + 8, "I4")
      refuses("wp.p.x", 1, E.EINVAL, "'wp.p' is a pointer (struct slot *); a path never descends through a pointer")
    end)
  end)

  describe("refuses leaves it cannot write (EINVAL), naming the type", function()
    it("struct, array, pointer, float, bitfield", function()
      refuses("stats", 1, E.EINVAL, "'stats' is struct stats; only integers, enums and bools")
      refuses("stats.inner", 1, E.EINVAL, "'stats.inner' is struct (anon)")
      refuses("arr", 1, E.EINVAL, "'arr' is __u32[8]")
      refuses("wp.p", 1, E.EINVAL, "'wp.p' is struct slot *")
      refuses("ratio", 1, E.EINVAL, "'ratio' is float")
      refuses("bits.a", 1, E.EINVAL, "'bits.a' is a bitfield (4 bits of __u32)")
      refuses("bits.b", 1, E.EINVAL, "'bits.b' is a bitfield (12 bits of __u32)")
    end)

    it("members of scalars and indices of non-arrays", function()
      refuses("crash.x", 1, E.EINVAL, "'crash' is int, which has no member 'x'")
      refuses("u8v[0]", 1, E.EINVAL, "'u8v[0]': cannot index __u8, it is not an array")
    end)
  end)

  describe("unaligned fields", function()
    it("are written, and reported as not atomic", function()
      local report = assert(apply("pk.b", 0x01020304))
      assert.equal(var.pk + 1, report[1].offset)
      assert.is_false(report[1].atomic)
      assert.equal(0x01020304, int_at(bpfobj.map_bytes(bss), var.pk + 1, "I4"))
    end)
    it("are refused with opts.atomic (ENOTSUP)", function()
      refuses("pk.b", 7, E.ENOTSUP, "not naturally aligned", { prog = prog, atomic = true })
    end)
  end)

  describe("other data sections", function()
    it("writes .data and a custom .data.<name> section", function()
      local r = assert(W(".data", "data_limit", 250):apply({ prog = prog }))[1]
      assert.equal("globals.data", r.map)
      assert.equal(100, r.before)
      assert.equal(250, int_at(bpfobj.map_bytes(data), r.offset, "I4"))
      r = assert(W(".data.custom", "custom_knob", 8):apply({ prog = prog }))[1]
      assert.equal(".data.custom", r.map)
      assert.equal(7, r.before)
      assert.equal(8, int_at(bpfobj.map_bytes(custom), r.offset, "I4"))
    end)

    it("refuses a frozen .rodata with EPERM and writes nothing", function()
      local before = bpfobj.map_bytes(rodata)
      local report, err, code = W(".rodata", "ro_limit", 11):apply({ prog = prog })
      assert.is_nil(report)
      assert.equal(E.EPERM, code)
      assert.is_truthy(err:find("the map is frozen", 1, true), err)
      assert.is_truthy(err:find("nothing written", 1, true), err)
      assert.equal(before, bpfobj.map_bytes(rodata))
    end)
  end)

  describe("finding the map", function()
    it("resolves by discovery alone when one map has the field", function()
      local r = assert(W(".bss", MARKER, 5):apply())[1]
      assert.equal(bss, r.map_id)
      assert.equal(5, int_at(bpfobj.map_bytes(bss), var[MARKER], "I4"))
    end)

    it("says what it looked for when no map has the field (ENOENT)", function()
      local report, err, code = W(".bss", "no_such_global", 1):apply({ prog = prog })
      assert.is_nil(report)
      assert.equal(E.ENOENT, code)
      assert.is_truthy(err:find("no map named '*.bss' used by program id " .. prog
        .. " has field 'no_such_global'", 1, true), err)
      assert.is_truthy(err:find("no variable 'no_such_global' in .bss (it has: u8v, s8v", 1, true), err)
    end)

    it("says so when no map has the suffix (ENOENT)", function()
      local report, err, code = W(".nosuchsec", "x", 1):apply()
      assert.is_nil(report)
      assert.equal(E.ENOENT, code)
      assert.equal("write .nosuchsec x=1: no loaded array map whose name ends in '.nosuchsec'", err)
    end)

    it("narrows to a MapData, a map id or a list", function()
      local m <close> = assert(bpfmap.MapData.from_id(bss))
      assert.equal(bss, assert(apply("u32v", 1, { map = m }))[1].map_id)
      assert.equal(bss, assert(apply("u32v", 2, { map = bss }))[1].map_id)
      assert.equal(bss, assert(apply("u32v", 3, { maps = { data, m } }))[1].map_id)
      assert.equal(3, int_at(bpfobj.map_bytes(bss), var.u32v, "I4"))
    end)

    it("refuses a given map whose name lacks the suffix", function()
      local report, err, code = W(".bss", "u32v", 1):apply({ map = data })
      assert.is_nil(report)
      assert.equal(E.ENOENT, code)
      assert.is_truthy(err:find("globals.data (id " .. data .. "): name does not end in '.bss'", 1, true), err)
    end)

    it("returns ENOENT for a map id that is not loaded", function()
      local report, err, code = apply("u32v", 1, { map = 4294967295 })
      assert.is_nil(report)
      assert.equal(E.ENOENT, code)
      assert.is_truthy(err:find("apply: open map id 4294967295", 1, true), err)
    end)

    it("narrows by program name", function()
      local other <close> = bpfobj.load(OTHER)
      local r = assert(W(".bss", "crash", 1):apply({ prog = "handle_other" }))[1]
      assert.equal("other.bss", r.map)
      local report, err, code = W(".bss", "crash", 1):apply({ prog = "no_such_prog" })
      assert.is_nil(report)
      assert.equal(E.ENOENT, code)
      assert.equal("apply: no loaded program named 'no_such_prog'", err)
    end)
  end)

  describe("ambiguity", function()
    it("names every candidate with its programs, and writes nothing (ENOTUNIQ)", function()
      local twin <close> = bpfobj.load(GLOBALS())
      local twin_bss, twin_prog = twin:map(".bss").id, twin.progs[1].id
      local before, twin_before = bpfobj.map_bytes(bss), bpfobj.map_bytes(twin_bss)
      local report, err, code = W(".bss", MARKER, 9):apply()
      assert.is_nil(report)
      assert.equal(E.ENOTUNIQ, code)
      assert.is_truthy(err:find("maps have field '" .. MARKER .. "'; narrow with opts.map, opts.maps or opts.prog", 1, true), err)
      assert.is_truthy(err:find("globals.bss (id " .. bss .. ", used by prog handle id " .. prog .. ")", 1, true), err)
      assert.is_truthy(err:find("globals.bss (id " .. twin_bss .. ", used by prog handle id " .. twin_prog .. ")", 1, true), err)
      assert.equal(before, bpfobj.map_bytes(bss))
      assert.equal(twin_before, bpfobj.map_bytes(twin_bss))
      -- narrowing resolves it
      assert.equal(twin_bss, assert(W(".bss", MARKER, 9):apply({ prog = twin_prog }))[1].map_id)
    end)
  end)

  describe("apply_writes", function()
    it("stores a batch across maps and reports in order", function()
      local report = assert(bpfmap.apply_writes({
        W(".bss", "u16v", 11), W(".data", "data_counter", -4), W(".bss", "s8v", -3),
      }, { prog = prog }))
      assert.equal(3, #report)
      assert.same({ "u16v", "data_counter", "s8v" }, { report[1].field, report[2].field, report[3].field })
      assert.equal(11, int_at(bpfobj.map_bytes(bss), var.u16v, "I2"))
      assert.equal(-4, int_at(bpfobj.map_bytes(data), report[2].offset, "i4"))
      assert.equal(-3, int_at(bpfobj.map_bytes(bss), var.s8v, "i1"))
    end)

    it("is all-or-nothing, naming the failing write", function()
      local cases = {
        { W(".bss", "u8v", 999), E.ERANGE, "write .bss u8v=999" },
        { W(".bss", "nope", 1), E.ENOENT, "write .bss nope=1" },
        { W(".rodata", "ro_limit", 1), E.EPERM, "write .rodata ro_limit=1" },
        { W(".bss", "stats", 1), E.EINVAL, "write .bss stats=1" },
      }
      for _, c in ipairs(cases) do
        local before, dbefore = bpfobj.map_bytes(bss), bpfobj.map_bytes(data)
        local report, err, code = bpfmap.apply_writes({
          W(".bss", "u32v", 0x5a5a), W(".data", "data_limit", 1), c[1],
        }, { prog = prog })
        assert.is_nil(report)
        assert.equal(c[2], code, err)
        assert.is_truthy(err:find(c[3], 1, true), err)
        assert.equal(before, bpfobj.map_bytes(bss), "a store happened before " .. c[3])
        assert.equal(dbefore, bpfobj.map_bytes(data))
      end
    end)

    it("returns true instead of a report with opts.report = false", function()
      assert.is_true(bpfmap.apply_writes({ W(".bss", "u16v", 12) }, { prog = prog, report = false }))
      assert.equal(12, int_at(bpfobj.map_bytes(bss), var.u16v, "I2"))
    end)

    it("returns an empty report for no writes", function()
      assert.same({}, bpfmap.apply_writes({}))
    end)
  end)

end)

-- Outside the describe above, so that no globals.bpf.o is loaded when the
-- wait starts.
priv.describe("BpfMapWrite:apply waiting for the program #priv", function()
  it("retries until the map and field appear (opts.timeout)", function()
    local fs <close> = bpffs.mount()
    local w = W(".bss", MARKER, 77)
    os.execute(string.format("(sleep 0.5; bpftool prog loadall %s %s/progs pinmaps %s/maps) &",
      GLOBALS(), fs.dir, fs.dir))
    local report, err, code = w:apply()
    assert.is_nil(report)
    assert.equal(E.ENOENT, code, err)
    report, err = w:apply({ timeout = 20, interval = 0.05 })
    assert.is_nil(err)
    local pinned = bpfobj.map_show(report[1].map_id)
    assert.equal("globals.bss", pinned.name)
    assert.equal(77, int_at(bpfobj.map_bytes(report[1].map_id), report[1].offset, "I4"))
  end)

  it("gives up at the deadline with ENOENT", function()
    local report, err, code = W(".nosuchsec", "x", 1):apply({ timeout = 0.2, interval = 0.05 })
    assert.is_nil(report)
    assert.equal(E.ENOENT, code)
    assert.is_truthy(err:find("(gave up after 0.2s)", 1, true), err)
  end)

  it("does not wait on errors that waiting cannot fix", function()
    local obj <close> = bpfobj.load(GLOBALS())
    local report, _, code = W(".bss", "u8v", 256):apply({ prog = obj.progs[1].id, timeout = 30 })
    assert.is_nil(report)
    assert.equal(E.ERANGE, code)
  end)

  it("never answers from a stale cache after the program is reloaded", function()
    local first = bpfobj.load(GLOBALS())
    local r1 = assert(W(".bss", MARKER, 1):apply())[1]
    assert.equal(first:map(".bss").id, r1.map_id)
    first:unload()
    local second <close> = bpfobj.load(GLOBALS())
    local r2 = assert(W(".bss", MARKER, 2):apply())[1]
    assert.equal(second:map(".bss").id, r2.map_id)
    assert.equal(2, int_at(bpfobj.map_bytes(r2.map_id), r2.offset, "I4"))
  end)
end)

priv.describe("BpfMapWrite:apply on maps bpfmap created #priv", function()
  local obj, btf, datasec

  setup(function()
    obj = bpfobj.load(GLOBALS())
    local info = bpfobj.map_show(obj:map("globals.data").id)
    btf = assert(bpfmap.Btf.from_id(info.btf_id))
    datasec = assert(btf:find(".data", "datasec"))
  end)
  teardown(function()
    btf:close()
    obj:unload()
  end)

  local function data_map(name, flags)
    return assert(bpfmap.MapData.create({ type = "array", key_size = 4, value_size = 8,
      max_entries = 1, flags = flags, btf_value_type_id = datasec }, name, btf:fd()))
  end

  it("falls back to read-modify-write where the map is not mmapable, and says so", function()
    local m <close> = data_map("bpfmapt.rmw")
    local r = assert(W(".rmw", "data_limit", 5):apply({ map = m }))[1]
    assert.equal("rmw", r.method)
    assert.is_false(r.atomic)
    assert.equal(0, r.before)
    assert.equal(5, int_at(bpfobj.map_bytes(m:id()), r.offset, "I4"))
  end)

  it("refuses read-modify-write with opts.atomic (ENOTSUP)", function()
    local m <close> = data_map("bpfmapt.rmw")
    local report, err, code = W(".rmw", "data_limit", 5):apply({ map = m, atomic = true })
    assert.is_nil(report)
    assert.equal(E.ENOTSUP, code)
    assert.is_truthy(err:find("the map is not mmapable, a read-modify-write", 1, true), err)
    assert.equal(string.rep("\0", 8), bpfobj.map_bytes(m:id()))
  end)

  it("refuses a BPF_F_RDONLY map with EPERM", function()
    local m <close> = data_map("bpfmapt.ro", { "rdonly" })
    local report, err, code = W(".ro", "data_limit", 5):apply({ map = m })
    assert.is_nil(report)
    assert.equal(E.EPERM, code)
    assert.is_truthy(err:find("the map's descriptor is read-only (BPF_F_RDONLY)", 1, true), err)
    assert.equal(string.rep("\0", 8), bpfobj.map_bytes(m:id()))
  end)

  -- Regression: an id in opts.maps opened the attempt's anchor table on top
  -- of maps[i], and the loop's pop then dropped the table (the MapData it
  -- owned with it) and left the stack one value off: a segfault.
  describe("opts.maps with map ids", function()
    local function maps()
      local with = data_map("bpfmapt_fw.ids", { "mmapable" })
      local without = assert(bpfmap.MapData.create({ type = "array", key_size = 4,
        value_size = 8, max_entries = 1 }, "bpfmapt_fwx.ids"))
      return with, without
    end

    local function writes_to(with, maps_opt, value)
      local r = assert(bpfmap.apply_writes({ W(".ids", "data_limit", value) }, { maps = maps_opt }))[1]
      assert.equal(with:id(), r.map_id)
      assert.equal("bpfmapt_fw.ids", r.map)
      assert.equal(value, int_at(bpfobj.map_bytes(with:id()), r.offset, "I4"))
    end

    it("resolves among several ids, and a mix of ids and MapData", function()
      local with <close>, without = maps()
      local _ <close> = without
      writes_to(with, { with:id(), without:id() }, 11)
      writes_to(with, { without:id(), with:id() }, 12)
      writes_to(with, { without, with:id() }, 13)
      writes_to(with, { with:id(), without }, 14)
      writes_to(with, { without:id(), with, without:id() }, 15)
    end)

    it("counts a map listed twice, by id or MapData, as one candidate", function()
      local with <close>, without = maps()
      local _ <close> = without
      writes_to(with, { with:id(), with:id() }, 21)
      writes_to(with, { with, with:id(), without:id() }, 22)
      writes_to(with, { with:id(), with }, 23)
    end)

    it("names every map it opened by id when none has the field (ENOENT)", function()
      local with <close>, without = maps()
      local _ <close> = without
      local report, err, code = bpfmap.apply_writes({ W(".ids", "no_such_global", 1) },
        { maps = { without:id(), with:id() } })
      assert.is_nil(report)
      assert.equal(E.ENOENT, code)
      assert.matches("no map named '%*%.ids' among the maps given in opts has field 'no_such_global'", err)
      assert.matches("bpfmapt_fwx.ids %(id " .. without:id() .. "%): the map has no BTF", err)
      assert.matches("bpfmapt_fw.ids %(id " .. with:id() .. "%): no variable 'no_such_global'", err)
    end)

    it("keeps the maps it opened alive while the collector runs at every allocation", function()
      local with <close>, without = maps()
      local _ <close> = without
      local ids = { without:id(), with:id(), without:id(), with:id() }
      local batch = { W(".ids", "data_limit", 1), W(".ids", "data_counter", -1) }
      local finalised = 0
      local ok, err = under_gc_pressure(function()
        for i = 1, 50 do
          -- garbage with finalisers, collected in the middle of the attempt
          for _ = 1, 20 do
            setmetatable({}, { __gc = function() finalised = finalised + 1 end })
          end
          batch[1] = W(".ids", "data_limit", i)
          local report, msg = bpfmap.apply_writes(batch, { maps = ids })
          assert(report, msg)
          assert(#report == 2 and report[1].map_id == with:id() and report[2].map_id == with:id())
        end
      end)
      assert.is_true(ok, err)
      assert.is_true(finalised > 0, "no finaliser ran")
      local bytes = bpfobj.map_bytes(with:id())
      local info = bpfobj.var_offsets(bpfobj.map_show(with:id()).btf_id, ".data")
      assert.equal(50, int_at(bytes, info.data_limit, "I4"))
      assert.equal(-1, int_at(bytes, info.data_counter, "i4"))
    end)
  end)

  -- A finaliser that applies by discovery while an outer discovery walk
  -- allocates (a MapData per candidate) runs a whole walk inside it, which
  -- replaces the list of remembered names; each walk owns the list it reads
  -- while it runs, and the outer one must still find every candidate.
  it("discovers correctly while finalisers run other discoveries mid-walk", function()
    local mine, ids = {}, {}
    for i = 1, 12 do
      mine[i] = assert(bpfmap.MapData.create({ type = "array", key_size = 4, value_size = 8,
        max_entries = 1 }, "bpfmapt_fw.nst"))
      ids[i] = mine[i]:id()
    end
    local outer, inner = W(".nst", "bpfmapt_fw_none", 1), W(".nstx", "bpfmapt_fw_none", 1)
    local inner_runs, inner_codes = 0, {}
    local ok, err = under_gc_pressure(function()
      for _ = 1, 30 do
        for _ = 1, 10 do
          setmetatable({}, { __gc = function()
            local _, _, code = inner:apply()
            inner_runs = inner_runs + 1
            inner_codes[code] = true
          end })
        end
        local report, msg, code = outer:apply()
        assert(report == nil and code == E.ENOENT, msg)
        for _, id in ipairs(ids) do
          assert(msg:find("bpfmapt_fw.nst (id " .. id .. "): the map has no BTF", 1, true), msg)
        end
      end
    end)
    for i = 1, #mine do mine[i]:close() end
    assert.is_true(ok, err)
    assert.is_true(inner_runs > 0, "no finaliser ran")
    assert.same({ [E.ENOENT] = true }, inner_codes)
  end)

  it("writes an mmapable map through its mapping", function()
    local m <close> = data_map("bpfmapt.mm", { "mmapable" })
    local r = assert(W(".mm", "data_counter", -9):apply({ map = m }))[1]
    assert.equal("mmap", r.method)
    assert.equal(-9, int_at(bpfobj.map_bytes(m:id()), r.offset, "i4"))
  end)
end)

describe("apply with bad arguments", function()
  local w = W(".bss", "crash", 1)
  local closed = setmetatable({}, { __index = function() return nil end })
  local function raises(opts, message)
    local ok, err = pcall(w.apply, w, opts)
    assert.is_false(ok, "no raise for " .. message)
    assert.is_truthy(err:find(message, 1, true), err)
  end

  it("raises for malformed opts before any syscall", function()
    raises(5, "table expected, got number")
    raises({ timeout = -1 }, "timeout must be in 0 .. 1e9 seconds, got -1")
    raises({ timeout = "1" }, "timeout must be a number of seconds, got string")
    raises({ timeout = 0 / 0 }, "timeout must be in 0 .. 1e9 seconds")
    raises({ interval = 0 }, "interval must be above 0 and at most 1e9 seconds, got 0")
    raises({ atomic = 1 }, "atomic must be a boolean, got number")
    raises({ report = "no" }, "report must be a boolean, got string")
    raises({ prog = {} }, "prog must be a program id or name, got table")
    raises({ prog = 0 }, "prog must be a program id in 1..4294967295 or a name, got 0")
    raises({ prog = 1.5 }, "prog must be a program id in 1..4294967295 or a name, got 1.5")
    raises({ prog = "bad name!" }, "prog must be a program name of 1..15")
    raises({ prog = "" }, "prog must be a program name of 1..15")
    raises({ map = "x" }, "map must be a MapData or a map id, got string")
    raises({ map = 0 }, "map must be a map id in 1..4294967295, got 0")
    raises({ map = 1 << 32 }, "map must be a map id in 1..4294967295")
    raises({ maps = {} }, "maps must not be empty")
    raises({ maps = 3 }, "maps must be a list of MapData or map ids, got number")
    raises({ maps = { "x" } }, "maps[1] must be a MapData or a map id, got string")
    raises({ map = 1, maps = { 1 } }, "give map or maps, not both")
    raises({ bogus = 1 }, "unknown option 'bogus'")
    raises({ [1] = true }, "unknown option '1'")
    local _ = closed
  end)

  priv.it("raises for a closed MapData in opts #priv", function()
    local m = assert(bpfmap.MapData.create({ type = "array", key_size = 4, value_size = 4,
      max_entries = 1 }, "bpfmapt_closed"))
    m:close()
    raises({ map = m }, "map is a closed MapData")
    raises({ maps = { m } }, "maps[1] is a closed MapData")
  end)

  it("raises for a malformed list of writes", function()
    assert.has_error(function() bpfmap.apply_writes("x") end)
    local ok, err = pcall(bpfmap.apply_writes, { w, "x" })
    assert.is_false(ok)
    assert.is_truthy(err:find("writes[2] must be a BpfMapWrite, got string", 1, true), err)
    ok, err = pcall(w.apply, "x")
    assert.is_false(ok)
    assert.is_truthy(err:find("writes must be a list of BpfMapWrite, got string", 1, true), err)
  end)
end)
