-- MapInfo: the fields of a map's bpf_map_info plus the fdinfo facts
-- (frozen, memlock), checked against bpftool on real maps; field access,
-- pairs() and tostring().
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)
local json = require "dkjson"

local MapData = bpfmap.MapData
local OBJ = "build/fixtures/globals.bpf.o"

local FIELDS = {
  "id", "name", "type", "type_id", "key_size", "value_size", "max_entries",
  "flags", "flag_names", "map_extra", "btf_id", "btf_key_type_id",
  "btf_value_type_id", "btf_vmlinux_value_type_id", "ifindex", "frozen",
  "memlock",
}

local maps = require("spec.helpers.tracked").new()
local uniq, made_ids, must_create, keep = maps.uniq, maps.ids, maps.must_create, maps.keep

local function array_def(extra)
  local def = { type = "array", key_size = 4, value_size = 8, max_entries = 1 }
  for k, v in pairs(extra or {}) do def[k] = v end
  return def
end

-- `bpftool btf dump id N -j`: types by id.
local function btf_types(btf_id)
  local out = bpffs.sh("bpftool btf dump id " .. math.tointeger(btf_id) .. " -j")
  local obj = assert(json.decode(out))
  local types = {}
  for _, t in ipairs(obj.types) do types[t.id] = t end
  return types
end

-- Every field of a MapInfo against `bpftool map show id N -j`.
local function assert_matches_bpftool(info)
  local show = bpfobj.map_show(info.id)
  assert.equal(show.id, info.id)
  assert.equal(show.type, info.type)
  assert.equal(show.name or "", info.name)
  assert.equal(show.flags, info.flags)
  assert.equal(show.bytes_key, info.key_size)
  assert.equal(show.bytes_value, info.value_size)
  assert.equal(show.max_entries, info.max_entries)
  assert.equal(show.btf_id or 0, info.btf_id)
  assert.equal(show.frozen == 1, info.frozen)
  assert.equal(show.bytes_memlock, info.memlock)
  return show
end

describe("MapInfo #priv", function()
  after_each(maps.close_all)

  teardown(function()
    if not priv.can_create_map() then return end -- bpftool cannot look either
    collectgarbage()
    bpfobj.wait_gone(made_ids, "maps created by mapinfo_spec still present")
  end)

  priv.it("reads every field of a created array, as bpftool does #priv", function()
    local name = uniq()
    local m = must_create(array_def({ flags = { "mmapable" } }), name)
    local info = m:info()
    assert_matches_bpftool(info)
    assert.equal(m:id(), info.id)
    assert.equal(name, info.name)
    assert.equal("array", info.type)
    assert.equal(2, info.type_id)
    assert.equal(4, info.key_size)
    assert.equal(8, info.value_size)
    assert.equal(1, info.max_entries)
    assert.equal(0x400, info.flags)
    assert.same({ "mmapable" }, info.flag_names)
    assert.equal(0, info.map_extra)
    assert.equal(0, info.btf_id)
    assert.equal(0, info.btf_key_type_id)
    assert.equal(0, info.btf_value_type_id)
    assert.equal(0, info.btf_vmlinux_value_type_id)
    assert.equal(0, info.ifindex)
    assert.is_false(info.frozen)
    assert.is_true(info.memlock > 0)
  end)

  priv.it("field types #priv", function()
    local info = must_create(array_def()):info()
    for _, f in ipairs(FIELDS) do
      local v = info[f]
      if f == "name" or f == "type" then
        assert.is_string(v, f)
      elseif f == "flag_names" then
        assert.is_table(v, f)
      elseif f == "frozen" then
        assert.is_boolean(v, f)
      else
        assert.equal("integer", math.type(v), f)
      end
    end
  end)

  priv.it("hash, percpu_array and bloom_filter, by name and type_id #priv", function()
    local h = must_create({ type = "hash", key_size = 8, value_size = 16, max_entries = 32,
      flags = { "no_prealloc" } }):info()
    assert_matches_bpftool(h)
    assert.equal("hash", h.type)
    assert.equal(1, h.type_id)
    assert.same({ "no_prealloc" }, h.flag_names)
    local p = must_create({ type = "percpu_array", key_size = 4, value_size = 8,
      max_entries = 2 }):info()
    assert_matches_bpftool(p)
    assert.equal("percpu_array", p.type)
    assert.equal(6, p.type_id)
    local b = must_create({ type = "bloom_filter", key_size = 0, value_size = 4,
      max_entries = 8, map_extra = 5 }):info()
    assert_matches_bpftool(b)
    assert.equal("bloom_filter", b.type)
    assert.equal(30, b.type_id)
    assert.equal(5, b.map_extra)
  end)

  priv.it("a type libbpf has no name for reads as 'type N' #priv", function()
    -- BPF_MAP_TYPE_ARENA (33) is newer than libbpf 1.1's table of names.
    local ARENA = 33
    local m, msg = MapData.create({ type = ARENA, key_size = 0, value_size = 0, max_entries = 1,
      flags = { "mmapable" } }, uniq())
    if not m then pending("this kernel cannot create an arena map: " .. msg) end
    keep(m)
    local info = m:info()
    local show = bpfobj.map_show(m:id())
    assert.equal(ARENA, info.type_id)
    if math.type(show.type) == "integer" then
      assert.equal(show.type, info.type_id)
      assert.equal("type " .. ARENA, info.type)
      assert.equal(string.format("%d: type %d  name %s  flags 0x400  key 0B  value 0B  max_entries 1",
        info.id, ARENA, info.name), tostring(info))
    else
      assert.equal(show.type, info.type)
    end
    assert.equal(show.bytes_memlock, info.memlock)
  end)

  priv.it("flag_names lists every set bit by name, in bit order #priv", function()
    local m = must_create(array_def({ flags = { "mmapable", "rdonly_prog" } }))
    local info = m:info()
    assert.equal(0x480, info.flags)
    assert.same({ "rdonly_prog", "mmapable" }, info.flag_names)
    local n = must_create(array_def({ flags = 0x480 })):info()
    assert.same({ "rdonly_prog", "mmapable" }, n.flag_names)
    local z = must_create(array_def()):info()
    assert.same({}, z.flag_names)
    -- a fresh table each time: changing one does not change the info
    local t = info.flag_names
    t[1] = "changed"
    assert.same({ "rdonly_prog", "mmapable" }, info.flag_names)
  end)

  priv.it("numa_node flag name #priv", function()
    local info = must_create(array_def({ flags = { "numa_node" }, numa_node = 0 })):info()
    assert.equal(4, info.flags)
    assert.same({ "numa_node" }, info.flag_names)
  end)

  priv.it("an unnamed map has name '' #priv", function()
    local info = must_create(array_def(), ""):info()
    assert.equal("", info.name)
    assert_matches_bpftool(info)
  end)

  priv.it("an unknown field raises #priv", function()
    local info = must_create(array_def()):info()
    assert.has_error(function() return info.nope end, "MapInfo has no field 'nope'")
    assert.has_error(function() return info.Name end, "MapInfo has no field 'Name'")
    assert.has_error(function() return info.bytes_key end, "MapInfo has no field 'bytes_key'")
    assert.has_error(function() return info[""] end, "MapInfo has no field ''")
    assert.has_error(function() return info[1] end, "MapInfo has no field '1'")
  end)

  priv.it("pairs iterates exactly the fields, with their values #priv", function()
    local info = must_create(array_def({ flags = { "mmapable" } })):info()
    local seen, n = {}, 0
    for k, v in pairs(info) do
      n = n + 1
      assert.is_nil(seen[k], "field " .. tostring(k) .. " twice")
      seen[k] = true
      if k == "flag_names" then
        assert.same(info.flag_names, v)
      else
        assert.equal(info[k], v, k)
      end
    end
    assert.equal(#FIELDS, n)
    for _, f in ipairs(FIELDS) do
      assert.is_true(seen[f], "pairs missed " .. f)
    end
    -- frozen = false is still a field
    assert.is_true(seen.frozen)
  end)

  priv.it("tostring is the one-line summary #priv", function()
    local name = uniq()
    local m = must_create(array_def({ flags = { "mmapable" } }), name)
    local info = m:info()
    assert.equal(string.format(
      "%d: array  name %s  flags 0x400  key 4B  value 8B  max_entries 1", m:id(), name),
      tostring(info))
    local h = must_create({ type = "hash", key_size = 8, value_size = 16, max_entries = 32 }, "")
    assert.equal(string.format("%d: hash  flags 0x0  key 8B  value 16B  max_entries 32", h:id()),
      tostring(h:info()))
    -- and MapData's tostring carries the same summary
    assert.truthy(tostring(m):find(tostring(info), 1, true), tostring(m))
  end)

  priv.it("is a snapshot: frozen changes only in a new info #priv", function()
    local m = must_create(array_def())
    local old = m:info()
    assert.is_false(old.frozen)
    bpffs.sh("bpftool map freeze id " .. m:id())
    local new = m:info()
    assert.is_true(new.frozen)
    assert.is_false(old.frozen)
    assert.equal(string.format("%d: array  name %s  flags 0x0  key 4B  value 8B  max_entries 1  frozen",
      m:id(), new.name), tostring(new))
    assert_matches_bpftool(new)
  end)

  describe("of the loaded fixture #priv", function()
    local obj
    before_each(function()
      if priv.can_create_map() then obj = bpfobj.load(OBJ) end
    end)
    after_each(function()
      maps.close_all()
      if obj then obj:unload() end
      obj = nil
    end)

    priv.it(".rodata: frozen, BTF ids, flags as bpftool says #priv", function()
      local want = obj:map(".rodata")
      local m = keep(MapData.from_id(want.id))
      local info = m:info()
      local show = assert_matches_bpftool(info)
      assert.equal("globals.rodata", info.name)
      assert.is_true(info.frozen)
      assert.is_true(info.btf_id > 0)
      -- libbpf: read-only for programs, mmapable where the kernel can
      assert.equal(0x80, info.flags & 0x80)
      assert.equal(show.flags, info.flags)
      assert.equal(string.format(
        "%d: array  name globals.rodata  flags 0x%x  key 4B  value %dB  max_entries 1  btf_id %d  frozen",
        info.id, info.flags, info.value_size, info.btf_id), tostring(info))
    end)

    priv.it(".bss: value type is its DATASEC in the map's BTF #priv", function()
      for _, suffix in ipairs { ".bss", ".data", ".rodata" } do
        local want = obj:map(suffix)
        local m = keep(MapData.from_id(want.id))
        local info = m:info()
        assert_matches_bpftool(info)
        assert.equal(suffix ~= ".rodata", not info.frozen)
        assert.is_true(info.btf_value_type_id > 0)
        local types = btf_types(info.btf_id)
        local vt = types[info.btf_value_type_id]
        assert.is_table(vt, "no BTF type " .. info.btf_value_type_id)
        assert.equal("DATASEC", vt.kind)
        assert.equal(suffix, vt.name)
        assert.equal(info.value_size, vt.size)
        assert.equal(0, info.btf_vmlinux_value_type_id)
      end
    end)

    priv.it("the program's maps read the same from every opener #priv", function()
      local want = obj:map(".data")
      local by_id = keep(MapData.from_id(want.id)):info()
      local by_pin = keep(MapData.from_pin(want.pin)):info()
      for _, f in ipairs(FIELDS) do
        if f == "flag_names" then
          assert.same(by_id[f], by_pin[f])
        else
          assert.equal(by_id[f], by_pin[f], f)
        end
      end
    end)
  end)
end)
