-- MapData:dump (csrc/dump.c): every entry as text, through the map's BTF
-- where it has one (libbpf's btf_dump), else hex.  bpftool is the witness:
-- the expected text is built from `bpftool map dump -j` of the same map, in
-- the order bpftool walked it (the same get_next_key order), so every key
-- and value shown is checked against what bpftool read.
--
-- Maps are named "bpfmapt_cli...", the fixture (cli_dump.bpf.o) adds
-- bpfmapt_cli_h, bpfmapt_cli_pc and cli_dump.bss; all are gone at the end.
local bpfmap = require "bpfmap"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)

local MapData = bpfmap.MapData

local FIXTURE = "build/fixtures/cli_dump.bpf.o"

---------------------------------------------------------------------------
-- utilities

local maps = require("spec.helpers.tracked").new("bpfmapt_cli")
local create, made_ids, close_all = maps.must_create, maps.ids, maps.close_all

local function u32(n) return string.pack("<I4", n) end
local function u64(n) return string.pack("<I8", n) end

-- Hex as dump shows it: bytes apart, 16 to a line, later lines indented.
local function dump_hex(s)
  local t = {}
  for i = 1, #s do
    local sep = i == 1 and "" or ((i - 1) % 16 == 0 and "\n    " or " ")
    t[i] = sep .. string.format("%02x", s:byte(i))
  end
  return table.concat(t)
end

local spaced_hex, bytes_of = bpfobj.spaced_hex, bpfobj.bytes
local bt_update, ncpus = bpfobj.update, bpfobj.ncpus

-- bpftool's dump of map id, decoded.
local function bt_dump(id)
  return assert(bpfobj.map_dump(id))
end

-- The text dump gives for bpftool's entries of a map without BTF.
local function expected_hex(entries, compact)
  local blocks = {}
  for i, e in ipairs(entries) do
    local parts = { "key: " .. (compact and spaced_hex or dump_hex)(bytes_of(e.key)) }
    if e.values then
      for _, v in ipairs(e.values) do
        parts[#parts + 1] = string.format("value (CPU %d): %s", v.cpu,
          (compact and spaced_hex or dump_hex)(bytes_of(v.value)))
      end
    else
      parts[#parts + 1] = "value: " .. (compact and spaced_hex or dump_hex)(bytes_of(e.value))
    end
    blocks[i] = table.concat(parts, compact and "  " or "\n") .. "\n"
  end
  return table.concat(blocks, compact and "" or "\n")
end

local function arg_err(n, msg)
  return string.format("bad argument #%d to 'dump' (%s)", n, msg)
end

---------------------------------------------------------------------------

describe("MapData:dump", function()
  after_each(close_all)

  teardown(function()
    close_all()
    collectgarbage()
    if not priv.can_create_map() then return end
    bpfobj.wait_gone(made_ids, "maps created by dump_spec still present")
  end)

  describe("maps without BTF show hex", function()
    priv.it("a hash map: each entry a block, in bpftool's order, as bpftool reads it #priv", function()
      local m = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 16 })
      m:update(u32(7), u64(0x1122334455667788))
      m:update(u32(0x01020304), u64(1))
      bt_update(m:id(), u32(9), u64(0xffffffffffffffff))
      local entries = bt_dump(m:id())
      assert.equal(3, #entries)
      local text = assert(m:dump())
      assert.equal(expected_hex(entries), text)
      -- and the format itself, for one entry
      assert.truthy(text:find("key: 07 00 00 00\nvalue: 88 77 66 55 44 33 22 11\n", 1, true))
    end)

    priv.it("an array: every index, long values 16 bytes a line #priv", function()
      local m = create({ type = "array", key_size = 4, value_size = 20, max_entries = 2 })
      local v = ""
      for i = 1, 20 do v = v .. string.char(i) end
      m:update(u32(1), v)
      local text = assert(m:dump())
      assert.equal("key: 00 00 00 00\n"
        .. "value: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n"
        .. "    00 00 00 00\n"
        .. "\n"
        .. "key: 01 00 00 00\n"
        .. "value: 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10\n"
        .. "    11 12 13 14\n", text)
      assert.equal(expected_hex(bt_dump(m:id())), text)
    end)

    priv.it("a per-CPU array: one value line per possible CPU #priv", function()
      local n = ncpus()
      local m = create({ type = "percpu_array", key_size = 4, value_size = 4, max_entries = 2 })
      local list = {}
      for cpu = 1, n do list[cpu] = u32(0x100 + cpu) end
      m:update(u32(1), list)
      local entries = bt_dump(m:id())
      assert.equal(n, #entries[2].values)
      local text = assert(m:dump())
      assert.equal(expected_hex(entries), text)
      assert.truthy(text:find("key: 01 00 00 00\nvalue (CPU 0): 01 01 00 00\n", 1, true))
      assert.truthy(text:find(string.format("value (CPU %d): %02x 01 00 00\n", n - 1, n), 1, true))
    end)

    priv.it("slots get_next_key lists but lookup never finds are stepped over #priv", function()
      -- a prog_array lists every index and finds none while empty: a walk
      -- that only asked again after the same key would never end
      local pa = create({ type = "prog_array", key_size = 4, value_size = 4, max_entries = 4 })
      assert.equal("", pa:dump())
      local inner = create({ type = "array", key_size = 4, value_size = 4, max_entries = 1 })
      local aom = create({ type = "array_of_maps", key_size = 4, value_size = 4,
        max_entries = 3, inner_map_fd = inner })
      assert(aom:update(u32(1), u32(inner:fd())))
      -- the one filled slot, its value the inner map's id, as bpftool reads it
      local bt = bt_dump(aom:id())
      assert.equal(1, #bt)
      assert.equal(u32(inner:id()), bytes_of(bt[1].value))
      assert.equal(expected_hex(bt), aom:dump())
      assert.equal("key: 01 00 00 00\nvalue: " .. dump_hex(u32(inner:id())) .. "\n", aom:dump())
    end)

    priv.it("an empty map dumps as the empty string #priv", function()
      local m = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 4 })
      assert.equal("", m:dump())
      assert.equal("", m:dump({ limit = 0 }))
      assert.equal("", m:dump({ compact = true }))
    end)
  end)

  describe("options", function()
    priv.it("limit stops after that many entries and says so #priv", function()
      local m = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 16 })
      for k = 1, 3 do m:update(u32(k), u64(k * 10)) end
      local entries = bt_dump(m:id())
      assert.equal(expected_hex({ entries[1] }) .. "\n... more entries not shown (limit 1)\n",
        m:dump({ limit = 1 }))
      assert.equal(expected_hex({ entries[1], entries[2] })
        .. "\n... more entries not shown (limit 2)\n", m:dump({ limit = 2 }))
      assert.equal("... more entries not shown (limit 0)\n", m:dump({ limit = 0 }))
      -- exactly as many as there are: nothing left unshown
      assert.equal(expected_hex(entries), m:dump({ limit = 3 }))
      assert.equal(expected_hex(entries), m:dump({ limit = 4 }))
    end)

    priv.it("compact puts each entry on one line #priv", function()
      local m = create({ type = "hash", key_size = 4, value_size = 20, max_entries = 16 })
      m:update(u32(1), ("\171"):rep(20))
      m:update(u32(2), ("\1"):rep(20))
      local entries = bt_dump(m:id())
      local text = m:dump({ compact = true })
      assert.equal(expected_hex(entries, true), text)
      assert.truthy(text:find("key: 01 00 00 00  value: " .. ("ab "):rep(19) .. "ab\n", 1, true))
      assert.equal(expected_hex({ entries[1] }, true) .. "... more entries not shown (limit 1)\n",
        m:dump({ compact = true, limit = 1 }))
    end)

    priv.it("bad options raise before any syscall #priv", function()
      local m = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 4 })
      assert.has_error(function() m:dump(1) end, arg_err(1, "table expected, got number"))
      assert.has_error(function() m:dump({ max_entries = 1 }) end,
        arg_err(1, "unknown option 'max_entries'"))
      assert.has_error(function() m:dump({ limit = -1 }) end,
        arg_err(1, "field 'limit' must be in 0..9223372036854775807, got -1"))
      assert.has_error(function() m:dump({ limit = 1.5 }) end,
        arg_err(1, "field 'limit' must be an integer, got 1.5"))
      assert.has_error(function() m:dump({ limit = "1" }) end,
        arg_err(1, "field 'limit' must be an integer, got string"))
      assert.has_error(function() m:dump({ compact = 1 }) end,
        arg_err(1, "compact must be a boolean, got number"))
      assert.has_error(function() m:dump({ 10 }) end, arg_err(1, "unknown option '1'"))
    end)
  end)

  describe("refusals", function()
    priv.it("a closed MapData raises #priv", function()
      local m = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 4 })
      m:close()
      assert.has_error(function() m:dump() end, "attempt to use a closed MapData")
    end)

    priv.it("a queue has no keys to walk: raises, naming the map #priv", function()
      local m, name = create({ type = "queue", key_size = 0, value_size = 4, max_entries = 4 })
      assert.has_error(function() m:dump() end, string.format(
        "calling 'dump' on bad self (map '%s' (id %d) is a queue map, which has no keys; "
        .. "use push, pop and peek, not dump)", name, m:id()))
    end)
  end)

  priv.describe("through BTF: a loaded program's maps #priv", function()
    local obj, hash, pcpu, bss

    setup(function()
      obj = bpfobj.load(FIXTURE)
      hash = assert(MapData.from_id(obj:map("bpfmapt_cli_h").id))
      pcpu = assert(MapData.from_id(obj:map("bpfmapt_cli_pc").id))
      bss = assert(MapData.from_id(obj:map("cli_dump.bss").id))
    end)

    teardown(function()
      for _, m in ipairs({ hash, pcpu, bss }) do
        if m then m:close() end
      end
      if obj then obj:unload() end
    end)

    -- The text btf_dump gives for bpftool's formatted entry of bpfmapt_cli_h.
    local function expected_flow(f)
      -- bpftool shows a NUL-ended char array as a string, a full one as numbers
      local chars = f.value.tag
      if type(chars) == "table" then chars = string.char(table.unpack(chars)) end
      local tag = {}
      for c in chars:gmatch(".") do tag[#tag + 1] = "        '" .. c .. "',\n" end
      return string.format("key: (struct cli_flow){\n"
        .. "    .port = (__u16)%d,\n    .proto = (__u8)%d,\n    .pad = (__u8)%d,\n}\n"
        .. "value: (struct cli_stat){\n"
        .. "    .packets = (__u32)%d,\n    .delta = (__s16)%d,\n"
        .. "    .color = (enum cli_color)%s,\n"
        .. "    .tag = (char[4])[\n%s    ],\n}\n",
        f.key.port, f.key.proto, f.key.pad, f.value.packets, f.value.delta, f.value.color,
        table.concat(tag))
    end

    it("a struct key and a struct value: every member, as bpftool reads them", function()
      -- port 80 proto 6 -> packets 5, delta -2, CLI_BLUE, "ab"
      bt_update(hash:id(), "\80\0\6\0", u32(5) .. "\254\255\0\0" .. u32(7) .. "ab\0\0")
      -- port 443 proto 17 -> a full tag, CLI_GREEN
      bt_update(hash:id(), "\187\1\17\0", u32(1) .. "\3\0\0\0" .. u32(1) .. "wxyz")
      local entries = bt_dump(hash:id())
      assert.equal(2, #entries)
      local want = {}
      for i, e in ipairs(entries) do want[i] = expected_flow(e.formatted) end
      local text = assert(hash:dump())
      assert.equal(table.concat(want, "\n"), text)
      assert.truthy(text:find(".color = (enum cli_color)CLI_BLUE,", 1, true))
      assert.truthy(text:find(".delta = (__s16)-2,", 1, true))
      -- one line per entry with compact
      local lines = {}
      for line in hash:dump({ compact = true }):gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.equal(2, #lines)
      assert.truthy(lines[1]:find("^key: %(struct cli_flow%){%.port = %(__u16%)%d+,"))
      assert.truthy(lines[1]:find("}  value: %(struct cli_stat%){%.packets = %(__u32%)%d+,"))
      for _, k in ipairs({ "\80\0\6\0", "\187\1\17\0" }) do
        assert.truthy(hash:delete(k))
      end
    end)

    it("a per-CPU array with BTF: each CPU's value, as bpftool reads them", function()
      local n = ncpus()
      local list = {}
      for cpu = 1, n do list[cpu] = u64(1000 + cpu) end
      assert(pcpu:update(u32(1), list))
      local entries = bt_dump(pcpu:id())
      local want = {}
      for i, e in ipairs(entries) do
        local lines = { string.format("key: (__u32)%d", e.formatted.key) }
        for _, v in ipairs(e.formatted.values) do
          lines[#lines + 1] = string.format("value (CPU %d): (__u64)%d", v.cpu, v.value)
        end
        want[i] = table.concat(lines, "\n") .. "\n"
      end
      local text = assert(pcpu:dump())
      assert.equal(table.concat(want, "\n"), text)
      assert.truthy(text:find(string.format("value (CPU %d): (__u64)%d\n", n - 1, 1000 + n), 1, true))
    end)

    it("a program's .bss: one variable a line, as bpftool reads them", function()
      -- cli_hits 42, cli_small -3, cli_on true, cli_mode CLI_BLUE (7),
      -- cli_range {lo 1, hi 2}, cli_wide 2^40
      local offs = bpfobj.var_offsets(bss:info().btf_id, ".bss")
      local v = {}
      for i = 1, 24 do v[i] = "\0" end
      local function put(name, bytes)
        for i = 1, #bytes do v[offs[name] + i] = bytes:sub(i, i) end
      end
      put("cli_hits", u32(42))
      put("cli_small", "\253")
      put("cli_on", "\1")
      put("cli_mode", u32(7))
      put("cli_range", "\1\0\2\0")
      put("cli_wide", u64(1 << 40))
      bt_update(bss:id(), u32(0), table.concat(v))
      local f = bt_dump(bss:id())[1].formatted.value[".bss"]
      local var = {}
      for _, kv in ipairs(f) do
        local name, val = next(kv)
        var[name] = val
      end
      assert.equal(string.format("key: 00 00 00 00\n"
        .. "value: SEC(\".bss\") {\n"
        .. "    cli_hits = (__u32)%d;\n"
        .. "    cli_small = (__s8)%d;\n"
        .. "    cli_on = (_Bool)%d;\n"
        .. "    cli_mode = (enum cli_color)%s;\n"
        .. "    cli_range = (struct){\n"
        .. "        .lo = (__u16)%d,\n"
        .. "        .hi = (__u16)%d,\n"
        .. "    };\n"
        .. "    cli_wide = (__u64)%d;\n"
        .. "}\n", var.cli_hits, var.cli_small, var.cli_on and 1 or 0, var.cli_mode,
        var.cli_range.lo, var.cli_range.hi, var.cli_wide), bss:dump())
      assert.equal(42, var.cli_hits)
      assert.equal("CLI_BLUE", var.cli_mode)
      assert.equal(1 << 40, var.cli_wide)
      assert.equal("key: 00 00 00 00  value: SEC(\".bss\") { cli_hits = (__u32)42; "
        .. "cli_small = (__s8)-3; cli_on = (_Bool)1; cli_mode = (enum cli_color)CLI_BLUE; "
        .. "cli_range = (struct){.lo = (__u16)1,.hi = (__u16)2,}; "
        .. "cli_wide = (__u64)1099511627776; }\n", bss:dump({ compact = true }))
    end)

    it("an empty hash with BTF dumps as the empty string", function()
      local keys = {}
      for k in hash:pairs() do keys[#keys + 1] = k end
      for _, k in ipairs(keys) do assert(hash:delete(k)) end
      assert.equal(0, #bt_dump(hash:id()))
      assert.equal("", hash:dump())
    end)
  end)
end)

