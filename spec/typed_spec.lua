-- MapData's BTF-typed values: m:get, m:set, m:read, m:write.
--
-- typed.bpf.o is loaded with bpftool into a private bpffs; its .bss, .data
-- and .rodata are read and planted with bpftool (the witness), at the
-- offsets bpftool's own BTF dump gives.  The array, hash, LRU hash and
-- per-CPU maps the spec creates take their value type, struct typ_rec,
-- from that object's BTF; their bytes are read back with bpftool too.
-- Every map here is ours: the program's by its pins, the others by the
-- prefix bpfmapt_typ.
local bpfmap = require "bpfmap"
local priv = require("spec.helpers.priv").bind(_ENV)
local bpfobj = require "spec.helpers.bpfobj"
local bpffs = require "spec.helpers.bpffs"
local proc = require "spec.helpers.proc"

local E = bpfmap.errno
local TYPED = "build/fixtures/typed.bpf.o"
local sh, quote = bpffs.sh, bpffs.quote

-- struct typ_rec as C lays it out (56 bytes):
-- count u32, temp s16, on bool, small u8, mode enum (u32), name char[8],
-- 4 bytes padding, big u64, inner { lat u16, delta s8 }, 1 byte padding,
-- union { as_u32, as_bytes[4] }, struct { lo u16, hi u16 }, slots u32[2],
-- 4 bytes tail padding.
local REC = "<I4i2BBI4c8xxxxI8I2i1xI4I2I2I4I4xxxx"
local REC_SIZE = 56
local OFF = { count = 0, temp = 4, on = 6, small = 7, mode = 8, name = 12, big = 24,
  lat = 32, delta = 34, as_u32 = 36, lo = 40, hi = 42, slots = 44 }

local function rec_bytes(r)
  return string.pack(REC, r.count or 0, r.temp or 0, r.on or 0, r.small or 0, r.mode or 0,
    r.name or string.rep("\0", 8), r.big or 0, r.lat or 0, r.delta or 0, r.as_u32 or 0,
    r.lo or 0, r.hi or 0, r.s1 or 0, r.s2 or 0)
end

-- bpftool's raw value for `key` (bytes) of map `id`: a string, a list of
-- strings (per-CPU), or nil when the key is not there.
local witness, plant = bpfobj.lookup, bpfobj.update

local function k32(i) return string.pack("<I4", i) end

local function int_at(bytes, off, fmt)
  return (string.unpack("<" .. fmt, bytes, off + 1))
end

local ncpus = bpfobj.ncpus

-- Assert a call returned nil, a message containing every one of `parts`
-- (plain text), and errno.
local function refused(errno, parts, ok, msg, code)
  assert.is_nil(ok, "expected a refusal")
  assert.equal(errno, code, msg)
  for _, part in ipairs(parts) do
    assert.is_truthy(msg:find(part, 1, true), "'" .. part .. "' not in: " .. msg)
  end
  return msg
end

priv.describe("typed values #priv", function()
  local obj, bss, data, rodata, bss_id, var, btf, rec_id, u32_id
  local maps = require("spec.helpers.tracked").new()

  -- A map of struct typ_rec values keyed by __u32, with the fixture's BTF.
  local function make(type, name, extra)
    local def = { type = type, key_size = 4, value_size = REC_SIZE, max_entries = 4,
      btf_key_type_id = u32_id, btf_value_type_id = rec_id }
    for k, v in pairs(extra or {}) do def[k] = v end
    return (maps.must_create(def, name, btf:fd()))
  end

  setup(function()
    obj = bpfobj.load(TYPED)
    bss_id = obj:map(".bss").id
    bss = assert(bpfmap.MapData.from_id(bss_id))
    data = assert(bpfmap.MapData.from_id(obj:map(".data").id))
    rodata = assert(bpfmap.MapData.from_id(obj:map(".rodata").id))
    var = bpfobj.var_offsets(bpfobj.map_show(bss_id).btf_id, ".bss")
    btf = assert(bpfmap.Btf.from_id(bss:info().btf_id))
    rec_id = assert(btf:find("typ_rec", "struct"))
    u32_id = assert(btf:find("__u32", "typedef"))
  end)

  -- Guarded: after a failed setup some of these are nil, and the error to
  -- see is setup's, not one of teardown's.
  teardown(function()
    maps.close_all()
    for _, m in pairs({ bss, data, rodata, btf }) do m:close() end
    bpfmap.clear_cache()
    if obj then obj:unload() end
    bpfobj.wait_gone(maps.ids, "typed spec maps still present")
  end)

  before_each(function()
    plant(bss_id, k32(0), string.rep("\0", bpfobj.map_show(bss_id).bytes_value))
  end)

  describe("a program's .bss", function()
    it("get reads each width, sign, bool and enum that bpftool planted", function()
      local b = bpfobj.map_bytes(bss_id)
      local function put(off, fmt, v)
        local s = string.pack("<" .. fmt, v)
        b = b:sub(1, off) .. s .. b:sub(off + #s + 1)
      end
      put(var.typ_u8, "I1", 255)
      put(var.typ_s8, "i1", -128)
      put(var.typ_u16, "I2", 65535)
      put(var.typ_s16, "i2", -2)
      put(var.typ_u32, "I4", 4294967295)
      put(var.typ_s32, "i4", -7)
      put(var.typ_u64, "i8", -1)
      put(var.typ_s64, "i8", math.mininteger)
      put(var.typ_flag, "I1", 1)
      put(var.typ_mode, "I4", 2)
      put(var.rec + OFF.lat, "I2", 4242)
      put(var.rec + OFF.hi, "I2", 9)
      put(var.pts + 8 * 2 + 4, "i4", -33)
      put(var.grid + 3 + 2, "I1", 77)
      plant(bss_id, k32(0), b)
      assert.equal(255, bss:get("typ_u8"))
      assert.equal(-128, bss:get("typ_s8"))
      assert.equal(65535, bss:get("typ_u16"))
      assert.equal(-2, bss:get("typ_s16"))
      assert.equal(4294967295, bss:get("typ_u32"))
      assert.equal(-7, bss:get("typ_s32"))
      assert.equal(-1, bss:get("typ_u64"))          -- u64 as two's complement
      assert.equal(math.mininteger, bss:get("typ_s64"))
      assert.is_true(bss:get("typ_flag"))
      assert.equal(2, bss:get("typ_mode"))
      assert.equal(4242, bss:get("rec.inner.lat"))
      assert.equal(9, bss:get("rec.hi"))            -- an anonymous struct's member
      assert.equal(-33, bss:get("pts[2].y"))
      assert.equal(77, bss:get("grid[1][2]"))
      assert.equal(4242, bss:get("rec.inner.lat", 0))
      assert.equal(4242, bss:get("rec.inner.lat", k32(0)))
    end)

    it("set stores through the mmap and reports as BpfMapWrite does", function()
      local before = bpfobj.map_bytes(bss_id)
      local r = assert(bss:set("rec.inner.delta", -5))
      local after = bpfobj.map_bytes(bss_id)
      local off = var.rec + OFF.delta
      assert.equal(-5, int_at(after, off, "i1"))
      assert.equal(before:sub(1, off), after:sub(1, off))
      assert.equal(before:sub(off + 2), after:sub(off + 2))
      assert.same({ map = "typed.bss", map_id = bss_id, field = "rec.inner.delta", offset = off,
        size = 1, type = "__s8", signed = true, before = 0, after = -5, method = "mmap",
        atomic = true }, r)
      -- the same report BpfMapWrite gives for the same write
      local w = assert(bpfmap.BpfMapWrite.new(".bss", "rec.inner.delta", -6):apply({ map = bss }))
      assert.equal(-5, w[1].before)
      r = assert(bss:set("rec.inner.delta", -5))
      w[1].before, w[1].after = -6, -5
      assert.same(w[1], r)
      assert.equal(-5, int_at(bpfobj.map_bytes(bss_id), off, "i1"))
    end)

    it("set takes u64 as two's complement, bools as booleans or 0/1, enums by number", function()
      assert.equal(-1, assert(bss:set("typ_u64", 0xffffffffffffffff)).after)
      assert.equal(string.rep("\255", 8), bpfobj.map_bytes(bss_id):sub(var.typ_u64 + 1, var.typ_u64 + 8))
      local r = assert(bss:set("typ_flag", true))
      assert.same({ 0, 1, "_Bool" }, { r.before, r.after, r.type })   -- integers, as BpfMapWrite
      assert.equal(1, int_at(bpfobj.map_bytes(bss_id), var.typ_flag, "I1"))
      assert.is_true(bss:get("typ_flag"))
      assert(bss:set("typ_flag", 0))
      assert.equal(0, int_at(bpfobj.map_bytes(bss_id), var.typ_flag, "I1"))
      assert(bss:set("typ_mode", 0x7f))
      assert.equal(0x7f, int_at(bpfobj.map_bytes(bss_id), var.typ_mode, "I4"))
      assert(bss:set("rec.slots[1]", 4294967295))
      assert.equal(4294967295, int_at(bpfobj.map_bytes(bss_id), var.rec + OFF.slots + 4, "I4"))
    end)

    it("set refuses with BpfMapWrite's errors, writing nothing", function()
      local before = bpfobj.map_bytes(bss_id)
      refused(E.ERANGE, { "set typ_u8=256: map 'typed.bss' (id " .. bss_id .. ") field 'typ_u8' "
        .. "(__u8 at offset " .. var.typ_u8 .. "): value 256 out of range 0..255; nothing written" },
        bss:set("typ_u8", 256))
      refused(E.ERANGE, { "value -129 out of range -128..127" }, bss:set("typ_s8", -129))
      refused(E.ERANGE, { "value 2 out of range 0..1" }, bss:set("typ_flag", 2))
      refused(E.ENOENT, { "set nope=1 in map 'typed.bss' (id " .. bss_id .. ")",
        "no variable 'nope' in .bss" }, bss:set("nope", 1))
      refused(E.ENOENT, { "no member 'nope' in 'rec' (struct typ_rec)" }, bss:set("rec.nope", 1))
      refused(E.ENOENT, { "pts[3]" }, bss:set("pts[3].x", 1))
      refused(E.EINVAL, { "'rec' is struct typ_rec" }, bss:set("rec", 1))
      refused(E.EINVAL, { "get rec from map 'typed.bss'", "'rec' is struct typ_rec",
        "m:read() decodes the rest" }, bss:get("rec"))
      refused(E.ENOENT, { "get nope from map 'typed.bss' (id " .. bss_id .. "): no variable 'nope' in .bss" },
        bss:get("nope"))
      refused(E.EINVAL, { "typ_u32" }, bss:set("typ_u32.x", 1))
      refused(E.EINVAL, { "wp.p" }, bss:set("wp.p", 1))
      refused(E.EINVAL, { "bitfield" }, bss:set("bits.a", 1))
      refused(E.EINVAL, { "float" }, bss:set("ratio", 1))
      refused(E.ENOTSUP, { "not naturally aligned", "opts.atomic" },
        bss:set("pk.b", 1, nil, { atomic = true }))
      assert.equal(before, bpfobj.map_bytes(bss_id))
      -- without opts.atomic the packed field is written, reported non-atomic
      local r = assert(bss:set("pk.b", 0x01020304))
      assert.is_false(r.atomic)
      assert.equal(0x01020304, int_at(bpfobj.map_bytes(bss_id), var.pk + 1, "I4"))
    end)

    it("read decodes the whole .bss as bpftool sees it", function()
      local b = bpfobj.map_bytes(bss_id)
      local function put(off, s) b = b:sub(1, off) .. s .. b:sub(off + #s + 1) end
      put(var.typ_s16, string.pack("<i2", -300))
      put(var.typ_flag, "\1")
      put(var.typ_mode, string.pack("<I4", 1))
      put(var.rec, rec_bytes({ count = 7, temp = -40, on = 1, small = 200, mode = 99,
        name = "probe\0\0\0", big = 1 << 40, lat = 12, delta = -3, as_u32 = 0x04030201,
        lo = 5, hi = 6, s1 = 10, s2 = 11 }))
      put(var.pts, string.pack("<i4i4i4i4i4i4", 1, -1, 2, -2, 3, -3))
      put(var.grid, "\1\2\3\4\5\6")
      -- a:4 = 9, b:5 = -3 (0b11101), c:23 = 1000, after = 42
      put(var.bits, string.pack("<I4I4", 9 | (0x1d << 4) | (1000 << 9), 42))
      put(var.pk, "\7" .. string.pack("<I4", 0x0a0b0c0d))
      put(var.wp, string.pack("<I8I4", 0x1000, 8))
      put(var.ratio, string.pack("<f", 1.5))
      plant(bss_id, k32(0), b)
      local t = assert(bss:read())
      assert.equal(-300, t.typ_s16)
      assert.is_true(t.typ_flag)
      assert.equal("TYP_ON", t.typ_mode)
      assert.same({ count = 7, temp = -40, on = true, small = 200, mode = 99, name = "probe",
        big = 1 << 40, inner = { lat = 12, delta = -3 }, as_u32 = 0x04030201,
        as_bytes = { 1, 2, 3, 4 }, lo = 5, hi = 6, slots = { 10, 11 } }, t.rec)
      assert.same({ { x = 1, y = -1 }, { x = 2, y = -2 }, { x = 3, y = -3 } }, t.pts)
      assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t.grid)
      assert.same({ a = 9, b = -3, c = 1000, after = 42 }, t.bits)
      assert.same({ a = 7, b = 0x0a0b0c0d }, t.pk)
      assert.same({ p = 0x1000, after = 8 }, t.wp)
      assert.equal(1.5, t.ratio)
      assert.equal(0, t.crash)
      assert.equal(0, t.typ_u64)
    end)

    it("write stores only the fields given, as bpftool then reads", function()
      local b = bpfobj.map_bytes(bss_id)
      b = b:sub(1, var.typ_u32) .. string.pack("<I4", 1234) .. b:sub(var.typ_u32 + 5)
      plant(bss_id, k32(0), b)
      assert.is_true(bss:write({ crash = 1, rec = { name = "abc", mode = "TYP_AUTO", lo = 3,
        inner = { delta = -1 }, slots = { [2] = 99 } }, grid = { [2] = { 7, 8, 9 } },
        bits = { a = 15, b = -16, c = (1 << 23) - 1 }, typ_flag = true, ratio = -2.25,
        pk = { b = 0xdeadbeef } }))
      local after = bpfobj.map_bytes(bss_id)
      assert.equal(1, int_at(after, var.crash, "i4"))
      assert.equal(1234, int_at(after, var.typ_u32, "I4"))    -- not given: kept
      assert.equal("abc\0\0\0\0\0", after:sub(var.rec + OFF.name + 1, var.rec + OFF.name + 8))
      assert.equal(2, int_at(after, var.rec + OFF.mode, "I4"))
      assert.equal(3, int_at(after, var.rec + OFF.lo, "I2"))
      assert.equal(-1, int_at(after, var.rec + OFF.delta, "i1"))
      assert.equal(0, int_at(after, var.rec + OFF.slots, "I4"))
      assert.equal(99, int_at(after, var.rec + OFF.slots + 4, "I4"))
      assert.equal("\0\0\0\7\8\9", after:sub(var.grid + 1, var.grid + 6))
      assert.equal(15 | (16 << 4) | (((1 << 23) - 1) << 9), int_at(after, var.bits, "I4"))
      assert.equal(1, int_at(after, var.typ_flag, "I1"))
      assert.equal(-2.25, int_at(after, var.ratio, "f"))
      assert.equal(0xdeadbeef, int_at(after, var.pk + 1, "I4"))
    end)

    it("write refuses unknown fields, wrong shapes and out-of-range values, writing nothing", function()
      local b = bpfobj.map_bytes(bss_id)
      b = b:sub(1, var.typ_u32) .. string.pack("<I4", 5) .. b:sub(var.typ_u32 + 5)
      plant(bss_id, k32(0), b)
      local name = "write map 'typed.bss' (id " .. bss_id .. ")"
      -- a good field alongside the bad one is not written either
      refused(E.ENOENT, { name .. ": .bss has no field 'nope'; nothing written" },
        bss:write({ typ_u32 = 6, nope = 1 }))
      refused(E.ENOENT, { name .. " field 'rec': struct typ_rec has no field 'nope'" },
        bss:write({ rec = { nope = 1 } }))
      refused(E.EINVAL, { "field 'rec': struct typ_rec needs a table, got number" },
        bss:write({ rec = 3 }))
      refused(E.EINVAL, { "field 'rec.count': __u32 needs an integer, got table" },
        bss:write({ rec = { count = {} } }))
      refused(E.EINVAL, { "field 'rec.count': __u32 needs an integer, got 1.5" },
        bss:write({ rec = { count = 1.5 } }))
      refused(E.EINVAL, { "field 'pts': struct typ_point[3] has 3 elements; the list has index 4" },
        bss:write({ pts = { {}, {}, {}, { x = 1 } } }))
      refused(E.EINVAL, { "field 'grid[0]': __u8[3] needs a list, got number" },
        bss:write({ grid = { 1 } }))
      refused(E.EINVAL, { "field 'pts': struct typ_point[3] is a list, not a table keyed by x" },
        bss:write({ pts = { x = 1 } }))
      refused(E.ERANGE, { "field 'rec.small': value 256 out of range 0..255; nothing written" },
        bss:write({ typ_u32 = 6, rec = { small = 256 } }))
      refused(E.ERANGE, { "field 'bits.b': value 16 out of range -16..15" },
        bss:write({ bits = { b = 16 } }))
      refused(E.ERANGE, { "field 'rec.name': a string of 9 bytes does not fit char[8]" },
        bss:write({ rec = { name = "123456789" } }))
      refused(E.EINVAL, { "field 'typ_mode': enum typ_mode has no enumerator 'TYP_NOPE'" },
        bss:write({ typ_mode = "TYP_NOPE" }))
      refused(E.EINVAL, { "field 'typ_flag': _Bool needs a boolean or 0 or 1, got string" },
        bss:write({ typ_flag = "yes" }))
      refused(E.EINVAL, { ".bss takes fields by name, not number 1" }, bss:write({ 1 }))
      assert.equal(b, bpfobj.map_bytes(bss_id))
    end)

    it("write takes a 63-bit field's whole range, and nothing past it", function()
      -- 1 << 63 does not fit a Lua integer: the bounds are computed unsigned
      local name = "write map 'typed.bss' (id " .. bss_id .. ")"
      assert.is_true(bss:write({ wide = { u63 = math.maxinteger, top = 1,
        s63 = -(1 << 62) } }))
      local after = bpfobj.map_bytes(bss_id)
      assert.equal(-1, int_at(after, var.wide, "i8"))               -- u63 all ones, top 1
      assert.equal(1 << 62, int_at(after, var.wide + 8, "i8"))      -- s63 = -2^62 in 63 bits
      assert.same({ u63 = math.maxinteger, top = 1, s63 = -(1 << 62) }, bss:read().wide)
      assert.is_true(bss:write({ wide = { u63 = 0, s63 = (1 << 62) - 1 } }))
      assert.same({ u63 = 0, top = 1, s63 = (1 << 62) - 1 }, bss:read().wide)
      local b = bpfobj.map_bytes(bss_id)
      refused(E.ERANGE, { name .. " field 'wide.u63': value -1 out of range 0.."
        .. math.maxinteger .. "; nothing written" }, bss:write({ wide = { u63 = -1 } }))
      refused(E.ERANGE, { "field 'wide.s63': value " .. (1 << 62) .. " out of range "
        .. -(1 << 62) .. ".." .. (1 << 62) - 1 }, bss:write({ wide = { s63 = 1 << 62 } }))
      refused(E.ERANGE, { "field 'wide.top': value 2 out of range 0..1" },
        bss:write({ wide = { top = 2 } }))
      assert.equal(b, bpfobj.map_bytes(bss_id))
    end)

    it("read then write is a round trip; a changed field is the only change", function()
      assert(bss:write({ rec = { count = 3, name = "rt", mode = "TYP_ON", as_u32 = 0x01020304 },
        bits = { a = 1, b = -1, c = 77 }, typ_s64 = -9, ratio = 0.5 }))
      local before = bpfobj.map_bytes(bss_id)
      local t = assert(bss:read())
      assert.is_true(bss:write(t))
      assert.equal(before, bpfobj.map_bytes(bss_id))
      t.rec.inner.lat = 555
      t.pts[3].x = -8
      assert.is_true(bss:write(t))
      local after = bpfobj.map_bytes(bss_id)
      assert.equal(555, int_at(after, var.rec + OFF.lat, "I2"))
      assert.equal(-8, int_at(after, var.pts + 16, "i4"))
      local expect = before:sub(1, var.rec + OFF.lat) .. string.pack("<I2", 555)
        .. before:sub(var.rec + OFF.lat + 3, var.pts + 16) .. string.pack("<i4", -8)
        .. before:sub(var.pts + 21)
      assert.equal(expect, after)
    end)

    it("a finalizer that clears the BTF cache mid-call frees nothing in use", function()
      -- finalizers run during the allocations read and write make, while
      -- they walk the BTF; under ASan a BTF freed under them is a report
      local cleared = 0
      for _ = 1, 3000 do
        setmetatable({}, { __gc = function() cleared = cleared + 1; bpfmap.clear_cache() end })
        assert.equal(0, bss:read().rec.count)
        assert.is_true(bss:write({ rec = { count = 0, name = "gc" } }))
        assert.equal(0, bss:get("rec.count"))
      end
      collectgarbage()
      assert.is_true(cleared > 0)
      assert.equal("gc", bss:read().rec.name)
    end)

    it("clear_cache closes the cached BTF's descriptor at once", function()
      local function btf_fds()
        local n = 0
        for line in sh("ls -l /proc/" .. proc.PID .. "/fd"):gmatch("[^\n]+") do
          if line:find("anon_inode:btf", 1, true) then n = n + 1 end
        end
        return n
      end
      assert(bss:read())
      collectgarbage()   -- BTF an earlier test's finalizers let go of
      local cached = btf_fds()
      bpfmap.clear_cache()
      assert.equal(cached - 1, btf_fds())
      assert(bss:read())
      assert.equal(cached, btf_fds())
    end)

    it("reads and writes .data; .rodata reads and refuses writes with EPERM", function()
      local t = assert(data:read())
      assert.same({ data_counter = 5, greeting = "hi", data_arr = { 1, 2, 3 } }, t)
      assert.is_true(data:write({ greeting = "hello", data_arr = { [3] = 30 } }))
      local dv = bpfobj.var_offsets(bpfobj.map_show(data:id()).btf_id, ".data")
      local raw = bpfobj.map_bytes(data:id())
      assert.equal("hello\0\0\0", raw:sub(dv.greeting + 1, dv.greeting + 8))
      assert.equal(30, int_at(raw, dv.data_arr + 8, "I4"))
      assert.equal(5, data:get("data_counter"))
      assert.equal("mmap", assert(data:set("data_counter", -6)).method)
      assert.equal(-6, int_at(bpfobj.map_bytes(data:id()), dv.data_counter, "i4"))
      assert.equal(-6, data:get("data_counter"))
      assert.same({ typ_ro = 10 }, rodata:read())
      assert.equal(10, rodata:get("typ_ro"))
      refused(E.EPERM, { "set typ_ro=1: map 'typed.rodata'", "the map is frozen" },
        rodata:set("typ_ro", 1))
      refused(E.EPERM, { "write map 'typed.rodata'", "the map is frozen" },
        rodata:write({ typ_ro = 1 }))
      assert.equal(10, int_at(bpfobj.map_bytes(rodata:id()), 0, "I4"))
    end)
  end)

  describe("an array map with BTF", function()
    it("gets, sets, reads and writes any element by index or key string", function()
      local m = make("array", "bpfmapt_typ_arr")
      plant(m:id(), k32(2), rec_bytes({ count = 17, temp = -1 }))
      assert.equal(17, m:get("count", 2))
      assert.equal(-1, m:get("temp", k32(2)))
      assert.equal(0, m:get("count"))
      assert.is_nil(m:get("count", 4))                  -- past max_entries: no element
      local r = assert(m:set("inner.lat", 9, 2))
      assert.equal("rmw", r.method)
      assert.is_false(r.atomic)
      assert.equal(rec_bytes({ count = 17, temp = -1, lat = 9 }), witness(m:id(), k32(2)))
      refused(E.ENOTSUP, { "the map is not mmapable", "opts.atomic" },
        m:set("count", 1, 2, { atomic = true }))
      refused(E.ENOENT, { "set count=1", "no element at that index" }, m:set("count", 1, 4))
      assert.is_true(m:write({ name = "x", slots = { 4, 5 }, mode = 1 }, 2))
      assert.equal(rec_bytes({ count = 17, temp = -1, lat = 9, name = "x\0\0\0\0\0\0\0",
        s1 = 4, s2 = 5, mode = 1 }), witness(m:id(), k32(2)))
      local t = m:read(2)
      assert.equal("TYP_ON", t.mode)
      assert.equal(17, t.count)
      assert.same({ 4, 5 }, t.slots)
      refused(E.ENOENT, { "write map 'bpfmapt_typ_arr'", "no element at index 9" },
        m:write({ count = 1 }, 9))
      assert.is_nil(m:read(9))
    end)

    it("an mmapable one is set through the mapping, element 0 and beyond", function()
      local m = make("array", "bpfmapt_typ_mm", { flags = { "mmapable" } })
      local r = assert(m:set("big", math.maxinteger, 3))
      assert.equal("mmap", r.method)
      assert.is_true(r.atomic)
      assert.equal(rec_bytes({ big = math.maxinteger }), witness(m:id(), k32(3)))
      assert.equal(math.maxinteger, m:get("big", 3))
      assert.is_true(m:write({ count = 1, hi = 2 }, 1))
      assert.equal(rec_bytes({ count = 1, hi = 2 }), witness(m:id(), k32(1)))
      assert.equal(2, m:read(1).hi)
    end)

    it("freezes once get, read and a BpfMapWrite have used the mapping", function()
      -- the kernel takes a writable mapping for an active writer and will
      -- not freeze under it (EBUSY): freeze lets go of this MapData's own
      local m = make("array", "bpfmapt_fp.frz", { flags = { "mmapable" } })
      assert.equal(0, m:get("count"))
      assert.equal(0, m:read().count)
      local r = assert(bpfmap.BpfMapWrite.new(".frz", "count", 7):apply({ map = m }))[1]
      assert.same({ "mmap", 7 }, { r.method, r.after })
      assert.is_true(m:freeze())
      assert.equal(1, bpfobj.map_show(m:id()).frozen)
      -- frozen: every store refused, nothing written; reads go on (a lookup,
      -- since the kernel now refuses a writable mapping)
      refused(E.EPERM, { "set count=1: map 'bpfmapt_fp.frz'", "the map is frozen" },
        m:set("count", 1))
      refused(E.EPERM, { "write map 'bpfmapt_fp.frz'", "the map is frozen" },
        m:write({ count = 1 }))
      local _, msg, code = bpfmap.BpfMapWrite.new(".frz", "count", 1):apply({ map = m })
      refused(E.EPERM, { "the map is frozen" }, nil, msg, code)
      assert.equal(rec_bytes({ count = 7 }), witness(m:id(), k32(0)))
      assert.equal(7, m:get("count"))
      assert.equal(7, m:read().count)
      -- and freezing again is the kernel's EPERM (a frozen map is not
      -- writable, so not freezable), naming the map
      local ok
      ok, msg, code = m:freeze()
      refused(E.EPERM, { "freeze map 'bpfmapt_fp.frz' (id " .. m:id() .. ")" }, ok, msg, code)
    end)

    it("a read-only descriptor refuses set and write with EPERM", function()
      local m = make("array", "bpfmapt_typ_ro", { flags = { "rdonly" } })
      refused(E.EPERM, { "read-only (BPF_F_RDONLY)" }, m:set("count", 1))
      refused(E.EPERM, { "read-only (BPF_F_RDONLY)" }, m:write({ count = 1 }))
      assert.equal(0, m:get("count"))
    end)
  end)

  for _, kind in ipairs({ { "hash", "bpfmapt_typ_h" }, { "lru_hash", "bpfmapt_typ_l" } }) do
    describe("a " .. kind[1] .. " map with BTF", function()
      it("missing keys: get and read give nil, set gives ENOENT, write creates", function()
        local m = make(kind[1], kind[2])
        assert.is_nil(m:get("count", k32(7)))
        assert.is_nil(m:read(k32(7)))
        refused(E.ENOENT, { "set count=1: map '" .. kind[2] .. "'", "the key is not in the map" },
          m:set("count", 1, k32(7)))
        assert.is_nil(witness(m:id(), k32(7)))
        assert.is_true(m:write({ count = 3, name = "new" }, k32(7)))
        assert.equal(rec_bytes({ count = 3, name = "new\0\0\0\0\0" }), witness(m:id(), k32(7)))
      end)

      it("existing keys: set by read-modify-write, read and write", function()
        local m = make(kind[1], kind[2] .. "2")
        plant(m:id(), k32(1), rec_bytes({ count = 10, big = 1 << 33, s2 = 6 }))
        assert.equal(10, m:get("count", k32(1)))
        local r = assert(m:set("temp", -300, k32(1)))
        assert.same({ "rmw", false, 0, -300 }, { r.method, r.atomic, r.before, r.after })
        assert.equal(rec_bytes({ count = 10, big = 1 << 33, s2 = 6, temp = -300 }),
          witness(m:id(), k32(1)))
        local t = m:read(k32(1))
        assert.same({ 0, 6 }, t.slots)
        assert.equal("TYP_OFF", t.mode)
        t.slots[1] = 5
        assert.is_true(m:write(t, k32(1)))
        assert.equal(rec_bytes({ count = 10, big = 1 << 33, s1 = 5, s2 = 6, temp = -300 }),
          witness(m:id(), k32(1)))
        refused(E.ERANGE, { "field 'temp': value 40000 out of range -32768..32767" },
          m:write({ temp = 40000 }, k32(1)))
      end)

      it("a frozen one refuses set and write with EPERM, writing nothing", function()
        local m = make(kind[1], kind[2] .. "3")
        plant(m:id(), k32(1), rec_bytes({ count = 10 }))
        assert(m:freeze())
        refused(E.EPERM, { "set count=1: map '" .. kind[2] .. "3'", "the map is frozen" },
          m:set("count", 1, k32(1)))
        refused(E.EPERM, { "write map '" .. kind[2] .. "3'", "the map is frozen" },
          m:write({ count = 1 }, k32(1)))
        assert.equal(rec_bytes({ count = 10 }), witness(m:id(), k32(1)))
        assert.equal(10, m:get("count", k32(1)))
      end)
    end)
  end

  describe("a per-CPU array with BTF", function()
    it("get and read give one value per possible CPU; set and write reach every CPU", function()
      local n = ncpus()
      local m = make("percpu_array", "bpfmapt_typ_pc")
      local got = m:get("count")
      assert.equal(n, #got)
      local r = assert(m:set("count", 41))
      assert.equal(n, #r.before)
      assert.equal(41, r.after)
      local w = witness(m:id(), k32(0))
      assert.equal(n, #w)
      for i = 1, n do assert.equal(rec_bytes({ count = 41 }), w[i]) end
      for i = 1, n do assert.equal(41, m:get("count")[i]) end
      assert.is_true(m:write({ lo = 2 }))                -- one table: every CPU
      local list = m:read()
      assert.equal(n, #list)
      for i = 1, n do
        assert.equal(41, list[i].count)
        assert.equal(2, list[i].lo)
      end
      for i = 1, n do list[i].hi = i end                  -- a list: one table per CPU
      assert.is_true(m:write(list))
      w = witness(m:id(), k32(0))
      for i = 1, n do assert.equal(rec_bytes({ count = 41, lo = 2, hi = i }), w[i]) end
      local too_many = {}
      for i = 1, n + 1 do too_many[i] = {} end
      refused(E.EINVAL, { "a per-CPU value is a list of " .. n .. " tables (one per possible "
        .. "CPU) or one table, got a list of " .. (n + 1) }, m:write(too_many))
      -- a list with anything but its n entries is a mistake, not a field
      local mixed = {}
      for i = 1, n do mixed[i] = { count = 1 } end
      mixed.count = 2
      assert.has_error(function() m:write(mixed) end,
        "bad argument #1 to 'write' (a per-CPU value is a list of " .. n .. " tables (one per "
        .. "possible CPU) or one table, not a table keyed by count)")
      w = witness(m:id(), k32(0))
      for i = 1, n do assert.equal(rec_bytes({ count = 41, lo = 2, hi = i }), w[i]) end
    end)
  end)

  describe("bad input", function()
    local arr, hash, nobtf

    setup(function()
      arr = make("array", "bpfmapt_typ_bad")
      hash = make("hash", "bpfmapt_typ_bh")
      nobtf = maps.must_create({ type = "array", key_size = 4, value_size = 8,
        max_entries = 1 }, "bpfmapt_typ_nob")
    end)

    it("raises for wrong key lengths and types, naming the expected size", function()
      assert.has_error(function() arr:get("count", "abc") end,
        "bad argument #2 to 'get' (key must be 4 bytes, got 3)")
      assert.has_error(function() hash:get("count", "abcde") end,
        "bad argument #2 to 'get' (key must be 4 bytes, got 5)")
      assert.has_error(function() hash:get("count") end,
        "bad argument #2 to 'get' (key must be a string of 4 bytes, got no value)")
      assert.has_error(function() hash:read(1) end,
        "bad argument #1 to 'read' (key must be a string of 4 bytes, got number)")
      assert.has_error(function() hash:write({}, "ab") end,
        "bad argument #2 to 'write' (key must be 4 bytes, got 2)")
      assert.has_error(function() arr:set("count", 1, -1) end,
        "bad argument #3 to 'set' (key must be in 0..4294967295, got -1)")
      assert.has_error(function() arr:set("count", 1, 1 << 32) end,
        "bad argument #3 to 'set' (key must be in 0..4294967295, got 4294967296)")
      assert.has_error(function() arr:read({}) end,
        "bad argument #1 to 'read' (key must be an index or a string of 4 bytes, got table)")
    end)

    it("raises for malformed paths and wrong value types, before any lookup", function()
      assert.has_error(function() arr:get("a..b") end,
        "bad argument #1 to 'get' (field must not contain '..' (empty path segment))")
      assert.has_error(function() arr:get("") end,
        "bad argument #1 to 'get' (field must not be empty)")
      assert.has_error(function() arr:set(".x", 1) end,
        "bad argument #1 to 'set' (field must not start or end with '.')")
      assert.has_error(function() arr:get(3) end,
        "bad argument #1 to 'get' (path must be a string, got number)")
      assert.has_error(function() arr:set("count", "1") end,
        "bad argument #2 to 'set' (value must be an integer or a boolean, got string)")
      assert.has_error(function() arr:set("count", 1.5) end,
        "bad argument #2 to 'set' (value must be an integer, got 1.5)")
      assert.has_error(function() arr:set("count", 1, 0, { atomc = true }) end,
        "bad argument #4 to 'set' (unknown option 'atomc')")
      assert.has_error(function() arr:set("count", 1, 0, { [2] = true }) end,
        "bad argument #4 to 'set' (unknown option '2')")
      assert.has_error(function() arr:write("count") end,
        "bad argument #1 to 'write' (table expected, got string)")
    end)

    it("raises on a map without keys, as the element methods do", function()
      local q = maps.must_create({ type = "queue", key_size = 0, value_size = 8,
        max_entries = 1 }, "bpfmapt_fp_q")
      local function msg(op)
        return "calling '" .. op .. "' on bad self (map 'bpfmapt_fp_q' (id " .. q:id()
          .. ") is a queue map, which has no keys; use push, pop and peek, not " .. op .. ")"
      end
      assert.has_error(function() q:get("count") end, msg("get"))
      assert.has_error(function() q:set("count", 1) end, msg("set"))
      assert.has_error(function() q:read() end, msg("read"))
      assert.has_error(function() q:write({}) end, msg("write"))
    end)

    it("a map without BTF gives ENODATA", function()
      local id = nobtf:id()
      refused(E.ENODATA, { "get x from map 'bpfmapt_typ_nob' (id " .. id .. "): the map has no BTF" },
        nobtf:get("x"))
      refused(E.ENODATA, { "set x=1 in map 'bpfmapt_typ_nob' (id " .. id .. "): the map has no BTF" },
        nobtf:set("x", 1))
      refused(E.ENODATA, { "read map 'bpfmapt_typ_nob' (id " .. id .. "): the map has no BTF" },
        nobtf:read())
      refused(E.ENODATA, { "write map 'bpfmapt_typ_nob' (id " .. id .. "): the map has no BTF" },
        nobtf:write({ x = 1 }))
    end)

    it("a closed handle raises for each of get, set, read, write", function()
      local m = make("array", "bpfmapt_typ_cl")
      m:close()
      for _, call in ipairs({
        function() m:get("count") end, function() m:set("count", 1) end,
        function() m:read() end, function() m:write({}) end,
      }) do
        assert.has_error(call, "attempt to use a closed MapData")
      end
    end)
  end)

  describe("warm get and set on a mmapable map", function()
    it("make no syscall: strace counts for 1 and 10000 calls are equal", function()
      local m = make("array", "bpfmapt_typ_st", { flags = { "mmapable" } })
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write(string.format([[
        local bpfmap = require "bpfmap"
        local m = assert(bpfmap.MapData.from_id(%d))
        local n = tonumber(arg[1])
        for i = 1, n do
          assert(m:set("inner.lat", i %% 65536))
          assert(m:get("inner.lat") == i %% 65536)
          assert(m:set("slots[1]", i, 1))
          assert(m:get("slots[1]", 1) == i)
        end
        collectgarbage()
      ]], m:id()))
      f:close()
      -- Under ASan (the asan run preloads its runtime into every child) the
      -- sanitizer's allocator maps and unmaps memory as the loop allocates
      -- its reports: those calls are the runtime's, not bpfmap's, so that
      -- run leaves out memory-management calls and counts the rest.
      local asan = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true)
      local ignored = asan and { mmap = true, munmap = true, madvise = true, mprotect = true,
        brk = true } or {}
      local function count(n)
        local out = os.tmpname()
        sh("strace -f -c -o " .. quote(out) .. " lua5.4 " .. quote(script) .. " " .. n)
        local text = assert(io.open(out)):read("a")
        os.remove(out)
        local total = 0
        for calls, name in text:gmatch("\n%s*[%d%.]+%s+[%d%.]+%s+%d+%s+(%d+)%s+%d*%s*([%w_]+)") do
          if name ~= "total" and not ignored[name] then total = total + tonumber(calls) end
        end
        assert(total > 0, text)
        return total, text
      end
      local ok, err = pcall(function()
        local one, t1 = count(1)
        local many, t2 = count(10000)
        assert.equal(one, many, "syscalls for 1 call:\n" .. t1 .. "\nfor 10000:\n" .. t2)
      end)
      os.remove(script)
      assert(ok, err)
    end)
  end)
end)
