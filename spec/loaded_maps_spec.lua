-- Walking the kernel: bpfmap.loaded_maps(), bpfmap.list_maps() and
-- bpfmap.list_programs(). The machine is shared, so every check is about
-- maps and programs we made (unique names, known ids), never "all of them".
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)
local json = require "dkjson"

local MapData = bpfmap.MapData
local OBJ = "build/fixtures/globals.bpf.o"
local BPF_PROG_TYPE_TRACEPOINT = 5


local bpf_fd_count = require("spec.helpers.proc").bpf_fd_count

local maps = require("spec.helpers.tracked").new()
local uniq, made_ids, close_all = maps.uniq, maps.ids, maps.close_all
local function must_create(def, name)
  return maps.must_create(def or { type = "array", key_size = 4, value_size = 8,
    max_entries = 1 }, name)
end

-- { [id] = MapInfo } of the walk, restricted to `ids`; also how many times
-- each was seen and whether the whole walk came in increasing id order.
local function collect(iter_or_list, ids)
  local found, seen, ascending, last = {}, {}, true, -1
  local function visit(info)
    assert.equal("bpfmap.MapInfo", getmetatable(info).__name)
    if info.id <= last then ascending = false end
    last = info.id
    if ids[info.id] then
      found[info.id] = info
      seen[info.id] = (seen[info.id] or 0) + 1
    end
  end
  if type(iter_or_list) == "function" then
    for info in iter_or_list do visit(info) end
  else
    for _, info in ipairs(iter_or_list) do visit(info) end
  end
  return found, seen, ascending
end

local function prog_show(id)
  return json.decode(bpffs.sh("bpftool prog show id " .. math.tointeger(id) .. " -j"))
end

describe("loaded maps and programs #priv", function()
  after_each(close_all)

  teardown(function()
    close_all()
    collectgarbage()
    if not priv.can_create_map() then return end -- bpftool cannot look either
    bpfobj.wait_gone(made_ids, "maps created by loaded_maps_spec still present")
  end)

  describe("loaded_maps", function()
    it("returns an iterator function", function()
      assert.is_function(bpfmap.loaded_maps)
      assert.is_function(bpfmap.loaded_maps())
    end)

    priv.it("finds each of our maps exactly once, by id, with its facts #priv", function()
      local mine = {}
      local names = {}
      for i = 1, 3 do
        local name = uniq()
        local m = must_create({ type = i == 2 and "hash" or "array", key_size = 4,
          value_size = 8 * i, max_entries = i }, name)
        mine[m:id()] = m
        names[m:id()] = name
      end
      local found, seen, ascending = collect(bpfmap.loaded_maps(), mine)
      assert.is_true(ascending, "ids not in increasing order")
      for id, m in pairs(mine) do
        assert.equal(1, seen[id], "map " .. id .. " seen " .. tostring(seen[id]) .. " times")
        local info, want = found[id], m:info()
        assert.equal(names[id], info.name)
        assert.equal(want.type, info.type)
        assert.equal(want.type_id, info.type_id)
        assert.equal(want.key_size, info.key_size)
        assert.equal(want.value_size, info.value_size)
        assert.equal(want.max_entries, info.max_entries)
        assert.equal(want.flags, info.flags)
        assert.is_false(info.frozen)
        assert.equal(bpfobj.map_show(id).bytes_memlock, info.memlock)
        assert.equal(tostring(want), tostring(info))
      end
    end)

    priv.it("sees what bpftool sees, for our maps #priv", function()
      local mine = {}
      for _ = 1, 4 do mine[must_create():id()] = true end
      local live = bpfobj.map_ids()
      local found = collect(bpfmap.loaded_maps(), mine)
      for id in pairs(mine) do
        assert.is_true(live[id], "bpftool does not see " .. id)
        assert.is_not_nil(found[id], "loaded_maps skipped " .. id)
      end
    end)

    priv.it("includes the fixture's maps, .rodata frozen #priv", function()
      local obj = bpfobj.load(OBJ)
      local ok, err = pcall(function()
        local ids = {}
        for _, m in pairs(obj.maps) do ids[m.id] = m end
        local found, seen = collect(bpfmap.loaded_maps(), ids)
        for id, m in pairs(ids) do
          assert.equal(1, seen[id], m.name)
          assert.equal(m.name, found[id].name)
          assert.equal(m.name == "globals.rodata", found[id].frozen, m.name)
          assert.equal(bpfobj.map_show(id).btf_id, found[id].btf_id)
        end
      end)
      obj:unload()
      assert(ok, err)
    end)

    priv.it("holds no descriptor after the walk, or after a break #priv", function()
      must_create()
      local before = bpf_fd_count()
      for _ in bpfmap.loaded_maps() do end
      assert.equal(before, bpf_fd_count())
      for _ in bpfmap.loaded_maps() do break end
      collectgarbage()
      assert.equal(before, bpf_fd_count())
    end)

    priv.it("an exhausted iterator stays exhausted #priv", function()
      must_create()
      local it = bpfmap.loaded_maps()
      while it() do end
      assert.is_nil(it())
      assert.is_nil(it())
    end)

    priv.it("each call starts a new walk #priv", function()
      local m = must_create()
      local a = collect(bpfmap.loaded_maps(), { [m:id()] = true })
      local b = collect(bpfmap.loaded_maps(), { [m:id()] = true })
      assert.is_not_nil(a[m:id()])
      assert.is_not_nil(b[m:id()])
    end)

    priv.it("survives our maps going away during the walk #priv", function()
      local first = must_create()
      local doomed = {}
      for _ = 1, 5 do doomed[#doomed + 1] = must_create() end
      local last = must_create()
      local want = { [first:id()] = true, [last:id()] = true }
      local seen = {}
      local ok, err = pcall(function()
        for info in bpfmap.loaded_maps() do
          if info.id == first:id() then
            for _, d in ipairs(doomed) do d:close() end
          end
          if want[info.id] then seen[info.id] = true end
        end
      end)
      assert(ok, err)
      assert.is_true(seen[first:id()])
      assert.is_true(seen[last:id()])
    end)
  end)

  describe("list_maps", function()
    priv.it("returns a list of MapInfo including ours #priv", function()
      local mine = {}
      local names = {}
      for _ = 1, 3 do
        local name = uniq()
        local m = must_create(nil, name)
        mine[m:id()] = true
        names[m:id()] = name
      end
      local list, msg = bpfmap.list_maps()
      assert.is_table(list, msg)
      assert.is_true(#list >= 3)
      local found, seen, ascending = collect(list, mine)
      assert.is_true(ascending)
      for id in pairs(mine) do
        assert.equal(1, seen[id])
        assert.equal(names[id], found[id].name)
        assert.equal("array", found[id].type)
      end
    end)

    priv.it("agrees with loaded_maps on our maps #priv", function()
      local mine = {}
      for _ = 1, 3 do mine[must_create():id()] = true end
      local from_list = collect(assert(bpfmap.list_maps()), mine)
      local from_iter = collect(bpfmap.loaded_maps(), mine)
      for id in pairs(mine) do
        assert.equal(tostring(from_iter[id]), tostring(from_list[id]))
        assert.equal(from_iter[id].memlock, from_list[id].memlock)
        assert.equal(from_iter[id].frozen, from_list[id].frozen)
      end
    end)

    priv.it("holds no descriptor afterwards #priv", function()
      must_create()
      local before = bpf_fd_count()
      assert.is_table(bpfmap.list_maps())
      assert.equal(before, bpf_fd_count())
    end)

    priv.it("does not list a map that is gone #priv", function()
      local m = must_create()
      local id = m:id()
      m:close()
      bpfobj.wait_gone({ [id] = true }, "closed map still shown by bpftool")
      local found = collect(assert(bpfmap.list_maps()), { [id] = true })
      assert.is_nil(found[id])
      found = collect(bpfmap.loaded_maps(), { [id] = true })
      assert.is_nil(found[id])
    end)
  end)

  describe("without privilege", function()
    priv.it("list_maps, list_programs: nil, message, EPERM; loaded_maps raises #priv", function()
      local out, why = priv.run_unprivileged([[
        local bpfmap = require "bpfmap"
        local function show(...)
          local t = table.pack(...)
          for i = 1, t.n do t[i] = tostring(t[i]) end
          io.write(table.concat(t, "|"), "\n")
        end
        show(bpfmap.list_maps())
        show(bpfmap.list_programs())
        show(pcall(function() for _ in bpfmap.loaded_maps() do end end))
        local ok, err = pcall(function() for _ in bpfmap.loaded_maps() do end end)
        show(type(err))
      ]])
      if not out then pending(why) end
      local lines = {}
      for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      local EPERM = tostring(bpfmap.errno.EPERM)
      assert.same({
        "nil|list_maps: Operation not permitted (needs CAP_SYS_ADMIN, which the process lacks)|" .. EPERM,
        "nil|list_programs: Operation not permitted (needs CAP_SYS_ADMIN, which the process lacks)|" .. EPERM,
        "false|loaded_maps: next map id after 0: Operation not permitted (needs CAP_SYS_ADMIN, which the process lacks)",
        "string",
      }, lines)
    end)
  end)

  describe("list_programs", function()
    local obj
    before_each(function()
      if priv.can_create_map() then obj = bpfobj.load(OBJ) end
    end)
    after_each(function()
      if obj then obj:unload() end
      obj = nil
    end)

    priv.it("lists the fixture's program with the maps it uses #priv", function()
      local want = obj.progs[1]
      local list, msg = bpfmap.list_programs()
      assert.is_table(list, msg)
      local hit, count = nil, 0
      for _, p in ipairs(list) do
        assert.is_table(p)
        assert.equal("integer", math.type(p.id))
        assert.is_string(p.name)
        assert.equal("integer", math.type(p.type_id))
        assert.is_table(p.map_ids)
        if p.id == want.id then
          hit = p
          count = count + 1
        end
      end
      assert.equal(1, count)
      assert.equal("handle", hit.name)
      assert.equal(BPF_PROG_TYPE_TRACEPOINT, hit.type_id)
      -- every data map of the object is used by the program
      local ids = {}
      for _, id in ipairs(hit.map_ids) do
        assert.equal("integer", math.type(id))
        ids[id] = true
      end
      for name, m in pairs(obj.maps) do
        assert.is_true(ids[m.id], "map_ids lacks " .. name .. " (" .. m.id .. ")")
      end
      -- and exactly what bpftool says
      local show = prog_show(want.id)
      assert.equal("tracepoint", show.type)
      local a, b = {}, {}
      for _, id in ipairs(hit.map_ids) do a[#a + 1] = id end
      for _, id in ipairs(show.map_ids) do b[#b + 1] = id end
      table.sort(a)
      table.sort(b)
      assert.same(b, a)
    end)

    priv.it("the program's map ids open as maps #priv", function()
      local hit
      for _, p in ipairs(assert(bpfmap.list_programs())) do
        if p.id == obj.progs[1].id then hit = p end
      end
      assert.is_table(hit)
      for _, id in ipairs(hit.map_ids) do
        local m = assert(MapData.from_id(id))
        assert.equal(id, m:id())
        m:close()
      end
    end)

    priv.it("two loads are two programs with distinct maps #priv", function()
      local second = bpfobj.load(OBJ)
      local ok, err = pcall(function()
        local byid = {}
        for _, p in ipairs(assert(bpfmap.list_programs())) do byid[p.id] = p end
        local p1, p2 = byid[obj.progs[1].id], byid[second.progs[1].id]
        assert.is_table(p1)
        assert.is_table(p2)
        assert.are_not.equal(p1.id, p2.id)
        local set1 = {}
        for _, id in ipairs(p1.map_ids) do set1[id] = true end
        for _, id in ipairs(p2.map_ids) do assert.is_nil(set1[id]) end
      end)
      second:unload()
      assert(ok, err)
    end)

    priv.it("holds no descriptor afterwards #priv", function()
      local before = bpf_fd_count()
      assert.is_table(bpfmap.list_programs())
      assert.equal(before, bpf_fd_count())
    end)

    priv.it("an unloaded program is no longer listed #priv", function()
      local id = obj.progs[1].id
      obj:unload()
      obj = nil
      local listed = true
      for _ = 1, 60 do
        listed = false
        for _, p in ipairs(assert(bpfmap.list_programs())) do
          if p.id == id then listed = true end
        end
        if not listed then break end
        os.execute("sleep 0.05")
      end
      assert.is_false(listed)
    end)
  end)
end)
