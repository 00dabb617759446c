-- Descriptors and mappings: bpfmap must give back every descriptor and every
-- mmap it makes, however a handle is closed, and a closed handle must never
-- act on a descriptor number the process has since given to another map.
--
-- (a) 20,000 maps, each created with BTF (so a BpfMapWrite ".fd" resolves in
--     it), pinned into a private bpffs, reopened by pin and by id, written
--     through each of its three handles and closed, a third each by close(),
--     by `local m <close>` and by dropping the handles to the collector; half
--     of them mmapable (the write goes through a mapping), half not (the
--     write is a read-modify-write). Afterwards the process holds as many
--     descriptors (ls /proc/PID/fd) and mappings (/proc/PID/maps) as before.
-- (b) A closed MapData whose descriptor number another map now holds: every
--     method raises, a write naming it raises, and the other map keeps its
--     bytes (bpftool) and is pinned nowhere.
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)
local json = require "dkjson"

local MapData = bpfmap.MapData
local W = bpfmap.BpfMapWrite.new
local OBJ = "build/fixtures/globals.bpf.o"
local CLOSED = "attempt to use a closed MapData"

local CYCLES = 20000
local WARM = 4    -- cycles before the counts are taken
local BUDGET = 30 -- seconds for the whole of (a), load and waits included

local proc = require "spec.helpers.proc"
local PID = proc.PID

local now = require("bpfmap.core").monotonic

-- BPFMAP_TIMING=1 prints how long each part took.
local function timing(fmt, ...)
  if os.getenv("BPFMAP_TIMING") then io.stderr:write(string.format("\n  " .. fmt .. "\n", ...)) end
end


local fd_count, map_count, maps_text = proc.fd_count, proc.map_count, proc.maps_text

-- The mappings themselves, to say which ones differ when the counts do.
local function map_lines()
  local set = {}
  for line in maps_text():gmatch("[^\n]+") do set[line] = true end
  return set
end

local function diff(before, after)
  local out = {}
  for line in pairs(after) do if not before[line] then out[#out + 1] = "+ " .. line end end
  for line in pairs(before) do if not after[line] then out[#out + 1] = "- " .. line end end
  table.sort(out)
  return table.concat(out, "\n")
end

-- Lines of /proc/PID/maps that map a BPF map (bpfmap's mmaps).
local function bpf_mappings()
  local n = 0
  for line in maps_text():gmatch("[^\n]+") do
    if line:find("bpf-map", 1, true) then n = n + 1 end
  end
  return n
end

local exists = bpffs.exists

-- Paths where bpftool finds map `id` pinned, in any mounted bpffs.
local function pinned_paths(id)
  local show = json.decode(bpffs.sh("bpftool map show id " .. math.tointeger(id) .. " -f -j"))
  return show.pinned or {}
end

-- u32 at byte offset `off` of a value.
local function u32_at(bytes, off)
  return (string.unpack("<I4", bytes, off + 1))
end

priv.describe("descriptors and mappings #priv", function()
  local obj, btf, fs, datasec, limit_off

  -- A map typed like globals.bpf.o's .data (int data_counter; __u32
  -- data_limit), named so that the suffix ".fd" finds it.
  local function def(mmapable)
    return { type = "array", key_size = 4, value_size = 8, max_entries = 1,
             btf_value_type_id = datasec, flags = mmapable and { "mmapable" } or nil }
  end

  local function create(mmapable)
    return assert(MapData.create(def(mmapable), "bpfmapt.fd", btf:fd()))
  end

  setup(function()
    obj = bpfobj.load(OBJ)
    local data = obj:map("globals.data")
    local btf_id = bpfobj.map_show(data.id).btf_id
    btf = assert(bpfmap.Btf.from_id(btf_id))
    datasec = assert(btf:find(".data", "datasec"))
    limit_off = assert(bpfobj.var_offsets(btf_id, ".data").data_limit)
    fs = bpffs.mount()
  end)

  teardown(function()
    if btf then btf:close() end
    if fs then fs:cleanup() end
    if obj then obj:unload() end
  end)

  -------------------------------------------------------------------------
  describe("(a) opening, pinning, reopening, writing and closing 20,000 maps", function()
    local PIN
    -- The id of every map made, in a list sized before the counts are
    -- taken: growing it later would itself allocate a mapping.
    local ids = {}

    -- Open one map three ways: create, then by pin (removed at once) and by id.
    local function reopen_pin(m)
      assert(m:pin(PIN))
      local by_pin = assert(MapData.from_pin(PIN))
      assert(os.remove(PIN))
      return by_pin
    end

    local function open3(i)
      local m = create(i % 2 == 0)
      local by_pin = reopen_pin(m)
      return m, by_pin, assert(MapData.from_id(m:id()))
    end

    -- The writes, made once: a new value each cycle would grow the table
    -- that interns them, and with it this process's mappings.
    local WRITES = {}
    for k = 1, 3 do
      WRITES[k] = {}
      for v = 0, 9 do WRITES[k][v] = W(".fd", "data_limit", 1000 * k + v) end
    end

    local function write3(i, m, by_pin, by_id)
      local id = m:id()
      ids[i] = id
      if by_pin:id() ~= id or by_id:id() ~= id then
        error(string.format("cycle %d: ids %d, %d, %d", i, id, by_pin:id(), by_id:id()))
      end
      local method = i % 2 == 0 and "mmap" or "rmw"
      for k, h in ipairs({ m, by_pin, by_id }) do
        local report = assert(WRITES[k][i % 10]:apply({ map = h }))
        if report[1].method ~= method or report[1].map_id ~= id then
          error(string.format("cycle %d handle %d: %s into map id %d", i, k,
            tostring(report[1].method), report[1].map_id))
        end
      end
      -- now and then, bpftool reads back what the last write stored
      if i % 1000 == 0 then
        assert.equal(WRITES[3][i % 10]:value(), u32_at(bpfobj.map_bytes(id), limit_off))
      end
    end

    local function by_close(i)
      local m, by_pin, by_id = open3(i)
      write3(i, m, by_pin, by_id)
      assert(m:close() and by_pin:close() and by_id:close())
      if i % 997 == 0 then
        assert.equal("MapData (closed)", tostring(m))
        assert.equal("MapData (closed)", tostring(by_pin))
        assert.equal("MapData (closed)", tostring(by_id))
      end
    end

    local function by_tbc(i)
      local m <close> = create(i % 2 == 0)
      local by_pin <close> = reopen_pin(m)
      local by_id <close> = assert(MapData.from_id(m:id()))
      write3(i, m, by_pin, by_id)
      return m, by_pin, by_id
    end

    local function by_tbc_checked(i)
      local m, by_pin, by_id = by_tbc(i)
      if i % 997 == 0 then
        assert.equal("MapData (closed)", tostring(m))
        assert.equal("MapData (closed)", tostring(by_pin))
        assert.equal("MapData (closed)", tostring(by_id))
      end
    end

    -- Handles only ever held in locals of this function: unreachable once it
    -- returns. A weak table watches a sample to see the collector take them.
    local watched = setmetatable({}, { __mode = "v" })
    local function by_gc(i)
      local m, by_pin, by_id = open3(i)
      write3(i, m, by_pin, by_id)
      if i % 997 == 0 then watched[#watched + 1] = by_id end
      if i % 100 == 0 then collectgarbage() end
    end

    local fds0, maps0, lines0, started

    setup(function()
      started = now()
      PIN = fs.dir .. "/m"
      for i = 1, CYCLES + WARM do ids[i] = 0 end
      -- warm: libbpf, the BTF cache and the intern table are set up once
      for i = CYCLES + 1, CYCLES + WARM do by_close(i) end
      fds0, maps0 = fd_count(), map_count()
      lines0 = map_lines()
      assert.equal(0, bpf_mappings())
    end)

    local third = CYCLES // 3
    local phases = {
      { "close()", 1, third, by_close },
      { "local m <close>", third + 1, 2 * third, by_tbc_checked },
      { "dropped references and collectgarbage()", 2 * third + 1, CYCLES, by_gc },
    }

    for _, phase in ipairs(phases) do
      local how, from, to, fn = table.unpack(phase)
      it(string.format("cycles %d..%d close by %s; descriptors and mappings come back", from, to,
        how), function()
        local t0 = now()
        for i = from, to do fn(i) end
        local took = now() - t0
        assert.equal(fds0, fd_count(), "descriptors after closing by " .. how)
        local maps = map_count()
        assert.equal(maps0, maps, "mappings after closing by " .. how .. ":\n"
          .. (maps == maps0 and "" or diff(lines0, map_lines())))
        assert.equal(0, bpf_mappings())
        assert.is_false(exists(PIN))
        timing("%d cycles closed by %s: %.2f s", to - from + 1, how, took)
      end)
    end

    it("the collector finalised the dropped handles", function()
      collectgarbage()
      collectgarbage()
      assert.is_nil(next(watched))
    end)

    it("every map is freed by the kernel, and it all took under 30 s", function()
      local set, n = {}, 0
      for i = 1, CYCLES + WARM do
        if ids[i] ~= 0 then
          set[ids[i]] = true
          n = n + 1
        end
      end
      assert.equal(CYCLES + WARM, n)
      bpfobj.wait_gone(set, "maps of the 20,000 cycles still loaded")
      local took = now() - started
      timing("(a) in all: %.2f s", took)
      assert.is_true(took < BUDGET, string.format("took %.1f s", took))
    end)
  end)

  -------------------------------------------------------------------------
  describe("(b) a closed MapData whose descriptor number is reused", function()
    it("raises for every use and leaves the map holding that number alone", function()
      local victim = create(true)
      local vid = victim:id()
      assert(W(".fd", "data_limit", 11):apply({ map = victim })) -- mapped
      local fd = victim:fd()
      assert.is_true(victim:close())

      -- The kernel hands out the lowest free number: the next map gets it.
      local other, spare = nil, {}
      for _ = 1, 64 do
        local c = create(true)
        if c:fd() == fd then other = c break end
        spare[#spare + 1] = c
      end
      for _, c in ipairs(spare) do c:close() end
      assert(other, "no new map took descriptor " .. fd)
      local oid = other:id()
      assert.are_not.equal(vid, oid)
      assert(W(".fd", "data_limit", 1):apply({ map = other })) -- mapped too
      bpfobj.map_update(oid, string.pack("<i4I4", -5, 0xA5A5A5A5))
      local before = bpfobj.map_bytes(oid)
      local stolen = fs.dir .. "/stolen"

      assert.has_error(function() victim:pin(stolen) end, CLOSED)
      assert.has_error(function() victim:fd() end, CLOSED)
      assert.has_error(function() victim:id() end, CLOSED)
      assert.has_error(function() victim:info() end, CLOSED)
      assert.has_error(function() MapData.methods.pin(victim, stolen) end, CLOSED)
      assert.has_error(function() MapData.methods.fd(victim) end, CLOSED)
      assert.has_error(function() MapData.methods.id(victim) end, CLOSED)
      assert.has_error(function() MapData.methods.info(victim) end, CLOSED)
      assert.equal("MapData (closed)", tostring(victim))
      assert.is_true(victim:close())
      assert.is_true(MapData.methods.close(victim))

      local w = W(".fd", "data_limit", 99)
      local ok, err = pcall(w.apply, w, { map = victim })
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find("map is a closed MapData", 1, true), err)
      ok, err = pcall(bpfmap.apply_writes, { w }, { maps = { victim } })
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find("maps[1] is a closed MapData", 1, true), err)
      ok, err = pcall(bpfmap.apply_writes, { w }, { maps = { other, victim } })
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find("maps[2] is a closed MapData", 1, true), err)
      ok, err = pcall(MapData.create, { type = "array_of_maps", key_size = 4, value_size = 4,
        max_entries = 1, inner_map_fd = victim }, "bpfmapt_outer")
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find("field 'inner_map_fd' is a closed MapData", 1, true), err)

      -- the other map: same descriptor, same bytes, pinned nowhere
      assert.equal(before, bpfobj.map_bytes(oid))
      assert.equal(0xA5A5A5A5, u32_at(bpfobj.map_bytes(oid), limit_off))
      assert.is_false(exists(stolen))
      assert.same({}, pinned_paths(oid))
      assert.equal(fd, other:fd())
      assert.equal(oid, other:info().id)
      local f = assert(io.open("/proc/self/fdinfo/" .. fd))
      local fdinfo = f:read("a")
      f:close()
      assert.equal(tostring(oid), fdinfo:match("map_id:%s*(%d+)"))
      -- the witness does see a pin in our bpffs
      assert.is_true(other:pin(fs.dir .. "/control"))
      assert.same({ fs.dir .. "/control" }, pinned_paths(oid))
      assert(os.remove(fs.dir .. "/control"))
      assert.is_true(other:close())
      bpfobj.wait_gone({ [vid] = true, [oid] = true }, "maps of (b) still loaded")
    end)
  end)
end)
