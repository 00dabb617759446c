-- The `bpfmap` command (lua/bpfmap/cli.lua), run as a child process,
-- `lua5.4 bin/bpfmap ...`, with the LUA_PATH/LUA_CPATH make test set: its
-- stdout, stderr and exit status for every subcommand, --json parsed back
-- with dkjson, and bpftool as the witness of what it read and wrote.
--
-- Maps are named "bpfmapt_cli...", the fixture (a copy of cli_dump.bpf.o
-- compiled for this run) adds bpfmapt_sp<tag>h, bpfmapt_sp<tag>c and
-- sp<tag>.bss; all are gone at the end.
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)
local sync = require "spec.helpers.sync"
local json = require "dkjson"

local MapData = bpfmap.MapData
local sh, quote = bpffs.sh, bpffs.quote

local USAGE_HINT = "Try 'bpfmap --help'.\n"

---------------------------------------------------------------------------
-- utilities

local run = require("spec.helpers.cli").run

--- Run and expect success; returns stdout.
local function ok(...)
  local code, out, err = run(...)
  assert.equal("", err)
  assert.equal(0, code)
  return out
end

--- Run and expect success with --json; returns the decoded output.
local function ok_json(...)
  local out = ok(...)
  assert.equal("\n", out:sub(-1))
  local v, _, e = json.decode(out)
  assert.is_nil(e)
  return v
end

--- Run and expect a failure (1) or a usage error (2) with exactly this
-- stderr (a string) or stderr matching it (a table { pattern }).
local function refused(status, want, ...)
  local code, out, err = run(...)
  assert.equal("", out)
  if type(want) == "table" then
    assert.matches(want[1], err)
  else
    assert.equal(want, err)
  end
  assert.equal(status, code)
end

local maps = require("spec.helpers.tracked").new("bpfmapt_cli")
local create, made_ids, close_all = maps.must_create, maps.ids, maps.close_all

local function u32(n) return string.pack("<I4", n) end
local function u64(n) return string.pack("<I8", n) end

local bt_show, bytes_of = bpfobj.map_show, bpfobj.bytes

local function plain_hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- Random letters no other map on the machine is likely to end with.
local function rand_tag(n)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(97, 122)) end
  return table.concat(t)
end

---------------------------------------------------------------------------

describe("bpfmap command", function()
  after_each(close_all)

  teardown(function()
    close_all()
    collectgarbage()
    if not priv.can_create_map() then return end
    bpfobj.wait_gone(made_ids, "maps created by cli_spec still present")
  end)

  describe("command line", function()
    it("--help and -h print the usage on stdout and exit 0", function()
      local out = ok("--help")
      assert.matches("^Usage: bpfmap %[%-%-json%] COMMAND %[ARGS%]\n", out)
      for _, cmd in ipairs({ "list", "show", "get", "set", "dump", "pin" }) do
        assert.matches("\n  " .. cmd .. " ", out)
      end
      assert.equal(out, ok("-h"))
      assert.equal(out, ok("dump", "--help"))
    end)

    it("no command, an unknown one, or an unknown option: exit 2 with a hint", function()
      refused(2, "bpfmap: no command given\n" .. USAGE_HINT)
      refused(2, "bpfmap: no command given\n" .. USAGE_HINT, "--json")
      refused(2, "bpfmap: unknown command 'frob'\n" .. USAGE_HINT, "frob")
      refused(2, "bpfmap: unknown option '--frob'\n" .. USAGE_HINT, "list", "--frob")
      refused(2, "bpfmap: unknown option '-x'\n" .. USAGE_HINT, "-x", "list")
    end)

    it("a wrong number of arguments: exit 2, naming the command", function()
      refused(2, "bpfmap: list takes at most 1 argument, got 2\n" .. USAGE_HINT, "list", "a", "b")
      refused(2, "bpfmap: show takes exactly 1 argument, got 0\n" .. USAGE_HINT, "show")
      refused(2, "bpfmap: get takes exactly 2 arguments, got 1\n" .. USAGE_HINT, "get", "1")
      refused(2, "bpfmap: set takes exactly 3 arguments, got 2\n" .. USAGE_HINT, "set", "1", "x")
      refused(2, "bpfmap: dump takes exactly 1 argument, got 2\n" .. USAGE_HINT, "dump", "1", "2")
      refused(2, "bpfmap: pin takes exactly 2 arguments, got 1\n" .. USAGE_HINT, "pin", "1")
    end)

    it("--key: only for get and set, and needs a value", function()
      refused(2, "bpfmap: --key is for get and set, not dump\n" .. USAGE_HINT,
        "dump", "1", "--key", "0")
      refused(2, "bpfmap: --key needs a value\n" .. USAGE_HINT, "get", "1", "x", "--key")
    end)

    it("a malformed VALUE or KEY: exit 2 before any map is opened", function()
      -- map id 1 need not exist: the value is checked first
      refused(2, "bpfmap: VALUE '1.5' is not an integer that fits in 64 bits\n" .. USAGE_HINT,
        "set", "1", "x", "1.5")
      refused(2, "bpfmap: VALUE '99999999999999999999' is not an integer that fits in 64 bits\n"
        .. USAGE_HINT, "set", "1", "x", "99999999999999999999")
      refused(2, "bpfmap: VALUE 'a b' is neither an integer, true, false nor an enumerator name\n"
        .. USAGE_HINT, "set", "1", "x", "a b")
      refused(2, "bpfmap: key 'abc' is neither an integer nor hex:BYTES\n" .. USAGE_HINT,
        "get", "1", "x", "--key", "abc")
      refused(2, "bpfmap: key 'hex:123': hex: must be followed by pairs of hex digits\n"
        .. USAGE_HINT, "set", "1", "x", "2", "--key", "hex:123")
      refused(2, "bpfmap: key 'hex:zz': hex: must be followed by pairs of hex digits\n"
        .. USAGE_HINT, "get", "1", "x", "--key", "hex:zz")
    end)
  end)

  describe("its JSON encoder", function()
    local cli = require "bpfmap.cli"

    it("writes what a JSON decoder reads back, escapes included", function()
      local v = {
        text = 'SEC(".bss") {\n\tx = \\0;\r\1\127}',
        n = -9223372036854775807 - 1,
        big = 0x7fffffffffffffff,
        f = 0.5,
        yes = true,
        no = false,
        list = { 1, "two", { three = 3 } },
        nested = { a = { b = { c = "d" } } },
      }
      local got = cli.json(v)
      assert.same(v, json.decode(got))
      -- integers stay integers, keys are sorted, the output is one line
      assert.truthy(got:find('"big":9223372036854775807,', 1, true))
      assert.equal('{"a":1,"b":[1,2]}', cli.json({ b = { 1, 2 }, a = 1 }))
      assert.is_nil(got:find("\n", 1, true))
    end)

    it("an empty table is an object unless marked as an array", function()
      assert.equal("{}", cli.json({}))
      assert.equal("[]", cli.json(cli.array()))
      assert.equal('{"x":[]}', cli.json({ x = cli.array({}) }))
    end)

    it("bytes that are not UTF-8 read as Latin-1; NaN and infinities as null", function()
      assert.equal('"caf\\u00e9\\u00ff"', cli.json("caf\233\255"))
      assert.equal('"caf\195\169"', cli.json("caf\195\169"))   -- UTF-8 passes
      assert.equal("[null,null,null]", cli.json({ 0 / 0, math.huge, -math.huge }))
    end)

    it("refuses what JSON cannot hold", function()
      assert.has_error(function() cli.json({ f = print }) end, "JSON: cannot encode a function")
      local t = {}
      t.self = t
      assert.has_error(function() cli.json(t) end, "JSON: a table refers to itself")
    end)
  end)

  describe("finding a map", function()
    priv.it("an id that is not loaded: exit 1 with the kernel's word #priv", function()
      refused(1, "bpfmap: from_id 4294967295: No such file or directory\n", "show", "4294967295")
      refused(1, "bpfmap: map id 4294967296 is out of range\n", "show", "4294967296")
    end)

    priv.it("a path with nothing pinned: exit 1 #priv", function()
      refused(1, "bpfmap: from_pin /tmp/bpfmapt_cli_none/x: No such file or directory\n",
        "dump", "/tmp/bpfmapt_cli_none/x")
    end)

    priv.it("a name no map has: exit 1 #priv", function()
      refused(1, "bpfmap: no loaded map is named 'bpfmapt_clinone' or has a name ending with it\n",
        "show", "bpfmapt_clinone")
    end)

    priv.it("a suffix two maps share: exit 1, listing the candidates #priv", function()
      local tag = rand_tag(3)
      local a, an = create({ type = "array", key_size = 4, value_size = 4, max_entries = 1 },
        "bpfmapt_cli1" .. tag)
      local b, bn = create({ type = "array", key_size = 4, value_size = 4, max_entries = 1 },
        "bpfmapt_cli2" .. tag)
      local code, out, err = run("show", tag)
      assert.equal(1, code)
      assert.equal("", out)
      -- other maps on the machine could end with the same letters: ours are
      -- listed whatever else is
      assert.matches("^bpfmap: %d+ maps match '" .. tag .. "'; name one by id or pinned path: .*\n$", err)
      assert.truthy(err:find(string.format("%s (id %d)", an, a:id()), 1, true))
      assert.truthy(err:find(string.format("%s (id %d)", bn, b:id()), 1, true))
      -- the whole name is not ambiguous
      assert.matches("^" .. a:id() .. ": array  name " .. an, ok("show", an))
    end)
  end)

  it("without privilege: exit 1, naming the capability the process lacks", function()
    local out, why = priv.run_unprivileged([[
      for _, args in ipairs({ "list", "show 1", "dump .bss" }) do
        local p = io.popen("lua5.4 bin/bpfmap " .. args .. " 2>&1; echo \"exit $?\"")
        io.write(p:read("a"))
        p:close()
      end
    ]])
    if not out then
      pending(why)
      return
    end
    local lacks = ": Operation not permitted (needs CAP_SYS_ADMIN, which the process lacks)\n"
    assert.equal("bpfmap: list_maps" .. lacks .. "exit 1\n"
      .. "bpfmap: from_id 1" .. lacks .. "exit 1\n"
      .. "bpfmap: list_maps" .. lacks .. "exit 1\n", out)
  end)

  describe("list", function()
    priv.it("lists loaded maps whose name contains PATTERN, as MapInfo prints them #priv", function()
      local tag = rand_tag(3)
      local h = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 16 },
        "bpfmapt_cli" .. tag .. "h")
      local a = create({ type = "array", key_size = 4, value_size = 4, max_entries = 2,
        flags = { "mmapable" } }, "bpfmapt_cli" .. tag .. "a")
      local out = ok("list", "bpfmapt_cli" .. tag)
      -- in id order, as the kernel walks them
      assert.equal(tostring(h:info()) .. "\n" .. tostring(a:info()) .. "\n", out)
      assert.matches("^%d+: hash  name bpfmapt_cli%a+h  flags 0x0  key 4B  value 8B  max_entries 16\n", out)
      assert.matches("\n%d+: array  name bpfmapt_cli%a+a  flags 0x400  key 4B  value 4B  max_entries 2\n$", out)
      -- a substring, not a Lua pattern: '.' is a dot
      assert.equal("", ok("list", "bpfmapt_cli" .. tag .. "."))
      assert.equal("", ok("list", "bpfmapt_cli_no_such"))
    end)

    priv.it("--json: a list of objects with bpftool's facts #priv", function()
      local tag = rand_tag(3)
      local h = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 16,
        flags = { "no_prealloc" } }, "bpfmapt_cli" .. tag .. "h")
      local list = ok_json("list", "--json", "bpfmapt_cli" .. tag)
      assert.equal(1, #list)
      local got, bt = list[1], bt_show(h:id())
      assert.equal(bt.id, got.id)
      assert.equal(bt.name, got.name)
      assert.equal(bt.type, got.type)
      assert.equal(bt.bytes_key, got.key_size)
      assert.equal(bt.bytes_value, got.value_size)
      assert.equal(bt.max_entries, got.max_entries)
      assert.equal(bt.flags, got.flags)
      assert.same({ "no_prealloc" }, got.flag_names)
      assert.equal(false, got.frozen)
      -- none: an empty list, not an object
      assert.equal("[]\n", ok("--json", "list", "bpfmapt_cli_no_such"))
    end)
  end)

  priv.describe("a loaded program's maps #priv", function()
    -- The tests find these maps by name, so they are this run's own: a copy
    -- of the fixture under an object name of its own (libbpf names the .bss
    -- after the object name's first 8 bytes) with map names of its own.
    -- dump_spec, or cli_spec in a concurrent run of the suite, loads the
    -- fixture too, and then a fixed name would match two maps.
    local tag = sync.tag(6)
    local BSS = "sp" .. tag .. ".bss"
    local BSS_PAT = BSS:gsub("%.", "%%.")
    local H, PC = "bpfmapt_sp" .. tag:sub(1, 4) .. "h", "bpfmapt_sp" .. tag:sub(1, 4) .. "c"
    local built, obj

    setup(function()
      built = bpfobj.compile("spec/fixtures/cli_dump.bpf.c", { HASH_NAME = H, PCPU_NAME = PC },
        "sp" .. tag .. ".bpf.o")
      obj = bpfobj.load(built.path)
    end)

    teardown(function()
      if obj then obj:unload() end
      if built then built:cleanup() end
    end)

    local function bss_id() return obj:map(BSS).id end
    local function hash_id() return obj:map(H).id end

    -- The .bss as bpftool reads it: { name = value }.
    local function bt_bss()
      local d = assert(bpfobj.map_dump(bss_id()))
      local vars = {}
      for _, kv in ipairs(d[1].formatted.value[".bss"]) do
        local name, v = next(kv)
        vars[name] = v
      end
      return vars
    end

    describe("show", function()
      it("by id, by pinned path and by name: the info line, then the details", function()
        local id = bss_id()
        local m <close> = assert(MapData.from_id(id))
        local prog = obj.progs[1]
        local want = tostring(m:info()) .. "\n"
          .. "  flags: mmapable\n"
          .. string.format("  btf: id %d, key type 0, value type %d\n", m:info().btf_id,
            m:info().btf_value_type_id)
          .. "  frozen: no\n"
          .. string.format("  memlock: %dB\n", m:info().memlock)
          .. string.format("  programs: %s (id %d)\n", prog.name, prog.id)
        assert.equal(want, ok("show", tostring(id)))
        assert.equal(want, ok("show", obj:map(BSS).pin))
        assert.equal(want, ok("show", BSS))
      end)

      it("--json, anywhere: the MapInfo fields and the programs using the map", function()
        local id = hash_id()
        local a = ok_json("--json", "show", tostring(id))
        local b = ok_json("show", tostring(id), "--json")
        assert.same(a, b)
        local bt = bt_show(id)
        assert.equal(id, a.id)
        assert.equal(H, a.name)
        assert.equal("hash", a.type)
        assert.equal(bt.bytes_key, a.key_size)
        assert.equal(bt.bytes_value, a.value_size)
        assert.equal(bt.max_entries, a.max_entries)
        assert.equal(bt.btf_id, a.btf_id)
        assert.same({}, a.flag_names)
        assert.same({ { id = obj.progs[1].id, name = obj.progs[1].name } }, a.programs)
        -- the program's maps, as bpftool sees them, include this one
        local prog = json.decode(sh("bpftool prog show id " .. obj.progs[1].id .. " -j"))
        local listed = false
        for _, mid in ipairs(prog.map_ids) do listed = listed or mid == id end
        assert.is_true(listed)
      end)
    end)

    describe("dump", function()
      it("prints m:dump()'s text, by id, pinned path or name", function()
        local m <close> = assert(MapData.from_id(hash_id()))
        assert(m:update("\80\0\6\0", u32(5) .. "\254\255\0\0" .. u32(7) .. "ab\0\0"))
        local text = assert(m:dump())
        assert.matches("^key: %(struct cli_flow%){\n    %.port = %(__u16%)80,", text)
        assert.equal(text, ok("dump", tostring(m:id())))
        assert.equal(text, ok("dump", obj:map(H).pin))
        assert.equal(text, ok("dump", H))
        assert(m:delete("\80\0\6\0"))
        assert.equal("", ok("dump", H))
      end)

      it("--json: each entry's bytes in hex, as bpftool reads them, and the text", function()
        local m <close> = assert(MapData.from_id(hash_id()))
        assert(m:update("\80\0\6\0", u32(5) .. "\254\255\0\0" .. u32(7) .. "ab\0\0"))
        assert(m:update("\187\1\17\0", u32(1) .. "\3\0\0\0" .. u32(1) .. "wxyz"))
        local got = ok_json("dump", "--json", tostring(m:id()))
        local bt = assert(bpfobj.map_dump(m:id()))
        assert.equal(H, got.map)
        assert.equal(m:id(), got.id)
        assert.equal(#bt, #got.entries)
        for i, e in ipairs(bt) do
          assert.same({ key = plain_hex(bytes_of(e.key)), value = plain_hex(bytes_of(e.value)) },
            got.entries[i])
        end
        assert.equal(m:dump(), got.text)
        assert(m:delete("\80\0\6\0"))
        assert(m:delete("\187\1\17\0"))
      end)

      it("--json of a per-CPU map: a hex value per CPU", function()
        local id = obj:map(PC).id
        local got = ok_json("--json", "dump", tostring(id))
        local bt = assert(bpfobj.map_dump(id))
        assert.equal(#bt, #got.entries)
        for i, e in ipairs(bt) do
          local values = {}
          for j, v in ipairs(e.values) do values[j] = plain_hex(bytes_of(v.value)) end
          assert.same({ key = plain_hex(bytes_of(e.key)), values = values }, got.entries[i])
        end
      end)
    end)

    describe("get and set", function()
      it("set writes one field, as bpftool reads it, and prints before -> after", function()
        local id = tostring(bss_id())
        local before = bt_bss().cli_hits
        assert.equal(string.format("cli_hits: %d -> 42\n", before), ok("set", id, "cli_hits", "42"))
        assert.equal(42, bt_bss().cli_hits)
        assert.equal("42\n", ok("get", id, "cli_hits"))
        -- negative numbers are values, not options; hex literals too
        assert.matches("^cli_small: %-?%d+ %-> %-3\n$", ok("set", id, "cli_small", "-3"))
        assert.equal(-3, bt_bss().cli_small)
        ok("set", id, "cli_wide", "0x10000000000")
        assert.equal(1 << 40, bt_bss().cli_wide)
        assert.equal(tostring(1 << 40) .. "\n", ok("get", id, "cli_wide"))
        ok("set", id, "cli_range.hi", "513")
        assert.equal(513, bt_bss().cli_range.hi)
        assert.equal("513\n", ok("get", BSS, "cli_range.hi"))
      end)

      it("booleans and enumerator names", function()
        local id = tostring(bss_id())
        ok("set", id, "cli_on", "true")
        assert.equal(true, bt_bss().cli_on)
        assert.equal("true\n", ok("get", id, "cli_on"))
        ok("set", id, "cli_on", "false")
        assert.equal(false, bt_bss().cli_on)
        ok("set", id, "cli_mode", "0")
        assert.equal("cli_mode: 0 -> 7\n", ok("set", id, "cli_mode", "CLI_BLUE"))
        assert.equal("CLI_BLUE", bt_bss().cli_mode)
        assert.equal("7\n", ok("get", id, "cli_mode"))
        refused(1, "bpfmap: write map '" .. BSS .. "' (id " .. id .. ") field 'cli_mode': "
          .. "enum cli_color has no enumerator 'CLI_PINK'; nothing written\n",
          "set", id, "cli_mode", "CLI_PINK")
        assert.equal("CLI_BLUE", bt_bss().cli_mode)
      end)

      it("--json: the value, and set's report", function()
        local id = bss_id()
        ok("set", tostring(id), "cli_hits", "7")
        assert.same({ map = BSS, id = id, path = "cli_hits", value = 7 },
          ok_json("get", tostring(id), "cli_hits", "--json"))
        local r = ok_json("--json", "set", tostring(id), "cli_hits", "8")
        assert.equal(BSS, r.map)
        assert.equal(id, r.id)
        assert.equal("cli_hits", r.path)
        assert.equal(7, r.before)
        assert.equal(8, r.after)
        assert.equal("__u32", r.type)
        assert.equal(bpfobj.var_offsets(bt_show(id).btf_id, ".bss").cli_hits, r.offset)
        assert.equal("mmap", r.method)
        assert.equal(8, bt_bss().cli_hits)
      end)

      it("an unknown field or an out-of-range value: exit 1, nothing written", function()
        local id = tostring(bss_id())
        ok("set", id, "cli_small", "5")
        refused(1, { "^bpfmap: get nope from map '" .. BSS_PAT .. "' %(id " .. id
          .. "%): no variable 'nope' in %.bss %(it has: cli_hits, cli_small, .*%)\n$" },
          "get", id, "nope")
        refused(1, { "^bpfmap: set nope=1 in map '" .. BSS_PAT .. "' %(id " .. id
          .. "%): no variable 'nope' in %.bss" }, "set", id, "nope", "1")
        refused(1, "bpfmap: set cli_small=300: map '" .. BSS .. "' (id " .. id .. ") field "
          .. "'cli_small' (__s8 at offset " .. bpfobj.var_offsets(bt_show(tonumber(id)).btf_id,
            ".bss").cli_small .. "): value 300 out of range -128..127; nothing written\n",
          "set", id, "cli_small", "300")
        assert.equal(5, bt_bss().cli_small)
        refused(1, "bpfmap: bad argument #1 to 'get' (field must not contain '..' "
          .. "(empty path segment))\n", "get", id, "cli_range..lo")
      end)

      it("--key: hex bytes or an integer for a hash map's key", function()
        local m <close> = assert(MapData.from_id(hash_id()))
        local id = tostring(m:id())
        assert(m:update("\80\0\6\0", u32(5) .. "\254\255\0\0" .. u32(7) .. "ab\0\0"))
        assert.equal("5\n", ok("get", id, "packets", "--key", "hex:50000600"))
        assert.equal("-2\n", ok("get", id, "delta", "--key=hex:50 00 06 00"))
        -- an integer is packed into the key's 4 bytes, little-endian
        assert.equal("5\n", ok("get", id, "packets", "--key", "0x60050"))
        assert.equal("packets: 5 -> 6\n", ok("set", id, "packets", "6", "--key", "hex:50000600"))
        assert.equal("color: 7 -> 1\n",
          ok("set", id, "color", "CLI_GREEN", "--key", "hex:50000600"))
        local bt = json.decode(sh("bpftool map lookup id " .. id .. " key hex 50 00 06 00 -j"))
        assert.equal(6, bt.formatted.value.packets)
        assert.equal("CLI_GREEN", bt.formatted.value.color)
        refused(1, "bpfmap: map '" .. H .. "' (id " .. id .. ") has no entry for key hex:51000600\n",
          "get", id, "packets", "--key", "hex:51000600")
        refused(1, "bpfmap: map '" .. H .. "' (id " .. id .. ") is a hash map: name the entry "
          .. "with --key\n", "get", id, "packets")
        refused(1, "bpfmap: key 'hex:5000' is 2 bytes; map '" .. H .. "' (id " .. id
          .. ") has 4-byte keys\n", "get", id, "packets", "--key", "hex:5000")
        refused(1, "bpfmap: key 4294967296 does not fit map '" .. H .. "' (id " .. id
          .. ")'s 4-byte keys\n", "get", id, "packets", "--key", "4294967296")
        refused(2, "bpfmap: key 'hex:5': hex: must be followed by pairs of hex digits\n"
          .. USAGE_HINT, "get", id, "packets", "--key", "hex:5")
        refused(2, "bpfmap: key 'abc' is neither an integer nor hex:BYTES\n" .. USAGE_HINT,
          "get", id, "packets", "--key", "abc")
        assert(m:delete("\80\0\6\0"))
      end)
    end)
  end)

  describe("dump of maps made here", function()
    priv.it("--json of a prog_array and an array of maps: only the filled slots #priv", function()
      local pa = create({ type = "prog_array", key_size = 4, value_size = 4, max_entries = 4 })
      assert.same({ map = pa:info().name, id = pa:id(), entries = {},
        text = "" }, ok_json("dump", "--json", tostring(pa:id())))
      assert.equal("[]", ok("dump", "--json", tostring(pa:id())):match('"entries":(%b[])'))
      local inner = create({ type = "array", key_size = 4, value_size = 4, max_entries = 1 })
      local aom = create({ type = "array_of_maps", key_size = 4, value_size = 4,
        max_entries = 3, inner_map_fd = inner })
      assert(aom:update(u32(1), u32(inner:fd())))
      local got = ok_json("dump", tostring(aom:id()), "--json")
      assert.same({ { key = "01000000", value = plain_hex(u32(inner:id())) } }, got.entries)
      assert.equal(aom:dump(), got.text)
    end)
  end)

  describe("dump of a map without keys", function()
    priv.it("a queue: exit 1, saying it has no keys #priv", function()
      local q, name = create({ type = "queue", key_size = 0, value_size = 4, max_entries = 2 })
      refused(1, string.format("bpfmap: map '%s' (id %d) is a queue map, which has no keys "
        .. "to dump\n", name, q:id()), "dump", tostring(q:id()))
    end)
  end)

  describe("pin", function()
    priv.it("pins the map in a bpf filesystem, where bpftool finds it #priv", function()
      local m, name = create({ type = "array", key_size = 4, value_size = 4, max_entries = 1 })
      local fs <close> = bpffs.mount()
      local path = fs.dir .. "/p"
      assert.equal(string.format("pinned map '%s' (id %d) at %s\n", name, m:id(), path),
        ok("pin", tostring(m:id()), path))
      assert.equal(m:id(), bpfobj.map_show_pinned(path).id)
      refused(1, "bpfmap: pin " .. path .. ": File exists\n", "pin", tostring(m:id()), path)
      local path2 = fs.dir .. "/q"
      assert.same({ map = name, id = m:id(), path = path2 },
        ok_json("pin", name, path2, "--json"))
    end)

    priv.it("outside a bpf filesystem: exit 1, saying so #priv", function()
      local m = create({ type = "array", key_size = 4, value_size = 4, max_entries = 1 })
      local dir = sh("mktemp -d /tmp/bpfmaptcliXXXXXX"):gsub("%s+$", "")
      local code, out, err = run("pin", tostring(m:id()), dir .. "/p")
      os.execute("rmdir " .. quote(dir))
      assert.equal("", out)
      assert.equal("bpfmap: pin " .. dir .. "/p (" .. dir
        .. " is not on a bpf filesystem): Operation not permitted\n", err)
      assert.equal(1, code)
    end)
  end)
end)
