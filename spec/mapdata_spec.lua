-- MapData: create, from_pin, from_id, from_fd, pin, fd, id, info, close,
-- tostring and the lifecycle (__gc, __close, closed state), on real kernel
-- maps. bpftool (spec/helpers/bpfobj.lua) is the independent witness.
--
-- Other programs' maps may exist: every check is narrowed to our own maps,
-- by id or by a unique "bpfmapt_" name. Pins go into a private bpffs.
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)
local proc = require "spec.helpers.proc"
local json = require "dkjson"

local MapData = bpfmap.MapData
local E = bpfmap.errno
local OBJ = "build/fixtures/globals.bpf.o"
local O_CLOEXEC = 0x80000 -- 02000000 octal

---------------------------------------------------------------------------
-- small utilities

local PID = proc.PID

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local PAGE_SIZE = math.tointeger(tonumber(trim(bpffs.sh("getconf PAGESIZE"))))

local maps = require("spec.helpers.tracked").new()
local uniq = maps.uniq

local function arg_err(n, fname, msg)
  return string.format("bad argument #%d to '%s' (%s)", n, fname, msg)
end

local function array_def(extra)
  local def = { type = "array", key_size = 4, value_size = 8, max_entries = 1 }
  for k, v in pairs(extra or {}) do def[k] = v end
  return def
end

-- /proc/self/fdinfo/N as a table of strings, or nil if fd N is not open.
local function fdinfo(fd)
  local f = io.open("/proc/self/fdinfo/" .. fd, "r")
  if not f then return nil end
  local t = {}
  for line in f:lines() do
    local k, v = line:match("^([%w_]+):%s*(.-)%s*$")
    if k then t[k] = v end
  end
  f:close()
  return t
end

local function has_cloexec(fd)
  local info = assert(fdinfo(fd), "fd " .. fd .. " is not open")
  local flags = tonumber(info.flags, 8)
  return flags & O_CLOEXEC ~= 0
end

-- What our descriptor N points at ("anon_inode:bpf-map", a path, ...), or nil.
local function fd_target(fd)
  local out = trim(bpffs.sh("readlink /proc/" .. PID .. "/fd/" .. fd .. " || true"))
  if out == "" then return nil end
  return out
end

-- Our open BPF descriptors: { [fd] = "map" | "prog" | ... }, and how many.
local function bpf_fds()
  collectgarbage() -- finalise what earlier tests dropped, so counts compare
  local fds, n = {}, 0
  for line in bpffs.sh("ls -l /proc/" .. PID .. "/fd"):gmatch("[^\n]+") do
    local fd, kind = line:match("(%d+) %-> anon_inode:bpf%-(%w+)")
    if fd then
      fds[tonumber(fd)] = kind
      n = n + 1
    end
  end
  return fds, n
end

-- Ids of every map the kernel holds with this name (any owner).
local function ids_named(name)
  local ids = {}
  local all = json.decode(bpffs.sh("bpftool map show -j"))
  for _, m in ipairs(all) do
    if m.name == name then ids[#ids + 1] = m.id end
  end
  return ids
end

local exists = bpffs.exists

-- Open a regular file with the Lua io library and find its descriptor
-- number in /proc; returns the file handle (keep it open) and the fd.
local tmpfiles = {}
local function open_regular_file()
  local path = os.tmpname()
  tmpfiles[#tmpfiles + 1] = path
  local f = assert(io.open(path, "w"))
  f:write("not a map\n")
  f:flush()
  local out = bpffs.sh("find /proc/" .. PID .. "/fd -lname " .. bpffs.quote(path))
  local fd = tonumber(out:match("/fd/(%d+)"))
  assert(fd, "cannot find the descriptor of " .. path .. " in:\n" .. out)
  return f, fd, path
end

-- Every map this file creates is tracked, so after_each can close it and
-- teardown can check the kernel freed all of them.
local made_ids, keep, close_all, create = maps.ids, maps.keep, maps.close_all, maps.create

local function must_create(def, name)
  local m, msg = create(def or array_def(), name)
  assert(m, msg)
  return m
end

-- Assert the nil, message, errno triple: message starts with `prefix`.
local function assert_fail(prefix, errno, ok, msg, err)
  assert.is_nil(ok)
  assert.is_string(msg)
  assert.is_truthy(msg:find(prefix, 1, true) == 1,
    "message " .. string.format("%q", msg) .. " should start with " .. string.format("%q", prefix))
  assert.equal(errno, err)
end

---------------------------------------------------------------------------

describe("MapData", function()
  after_each(function()
    close_all()
    for i = #tmpfiles, 1, -1 do
      os.remove(tmpfiles[i])
      tmpfiles[i] = nil
    end
  end)

  teardown(function()
    close_all()
    collectgarbage()
    if not priv.can_create_map() then return end -- bpftool cannot look either
    collectgarbage()
    bpfobj.wait_gone(made_ids, "maps created by mapdata_spec still present")
  end)

  describe("spec/helpers/priv", function()
    after_each(function() priv.force() end) -- probe afresh next time

    it("probes by creating a map, and caches the answer", function()
      local ok, reason = priv.can_create_map()
      assert.is_boolean(ok)
      if ok then
        assert.is_nil(reason)
      else
        assert.is_string(reason)
      end
      assert.equal(ok, (priv.can_create_map()))
    end)

    it("guard marks the test pending when maps cannot be created", function()
      local ran = false
      local body = priv.guard(function() ran = true end)
      priv.force(false, "create array map 'bpfmapt_probe': Operation not permitted")
      local ok, err = pcall(body)
      assert.is_false(ok)
      assert.equal("needs CAP_BPF/CAP_SYS_ADMIN: "
        .. "create array map 'bpfmapt_probe': Operation not permitted", tostring(err))
      assert.is_false(ran)
      priv.force(true)
      assert.is_true(pcall(body))
      assert.is_true(ran)
    end)
  end)

  describe("errno table", function()
    it("has the usual names with the system's values", function()
      assert.equal(1, E.EPERM)
      assert.equal(2, E.ENOENT)
      assert.equal(9, E.EBADF)
      assert.equal(13, E.EACCES)
      assert.equal(17, E.EEXIST)
      assert.equal(22, E.EINVAL)
      assert.is_number(E.EOPNOTSUPP)
    end)
  end)

  -------------------------------------------------------------------------
  describe("create: caller mistakes raise before any syscall", function()
    local function raises(msg, def, name, ...)
      local n = select("#", ...)
      local btf = ...
      assert.has_error(function()
        if n > 0 then
          MapData.create(def, name, btf)
        else
          MapData.create(def, name)
        end
      end, msg)
    end

    it("def must be a table", function()
      raises(arg_err(1, "create", "table expected, got nil"), nil, "x")
      raises(arg_err(1, "create", "table expected, got string"), "array", "x")
    end)

    it("name must be a string", function()
      assert.has_error(function() MapData.create(array_def()) end,
        arg_err(2, "create", "name must be a string, got no value"))
      raises(arg_err(2, "create", "name must be a string, got number"), array_def(), 12)
      raises(arg_err(2, "create", "name must be a string, got table"), array_def(), {})
    end)

    it("name longer than 15 bytes", function()
      raises(arg_err(2, "create", "name must be at most 15 bytes (got 16)"),
        array_def(), "bpfmapt_0123456a")
      raises(arg_err(2, "create", "name must be at most 15 bytes (got 40)"),
        array_def(), string.rep("a", 40))
    end)

    it("name with bytes the kernel refuses", function()
      local bad = "may hold only letters, digits, '_' and '.'"
      raises(arg_err(2, "create", "name " .. bad .. " (byte 1 is 0x2d)"), array_def(), "a-b")
      raises(arg_err(2, "create", "name " .. bad .. " (byte 3 is 0x20)"), array_def(), "abc def")
      raises(arg_err(2, "create", "name " .. bad .. " (byte 0 is 0x2f)"), array_def(), "/x")
      raises(arg_err(2, "create", "name " .. bad .. " (byte 2 is 0x00)"), array_def(), "ab\0cd")
      raises(arg_err(2, "create", "name " .. bad .. " (byte 1 is 0xc3)"), array_def(), "a\xc3\xa9")
      raises(arg_err(2, "create", "name " .. bad .. " (byte 0 is 0x3a)"), array_def(), ":")
    end)

    it("btf_fd must be a non-negative integer", function()
      raises(arg_err(3, "create", "btf_fd must be an integer, got string"), array_def(), "x", "btf")
      raises(arg_err(3, "create", "btf_fd must be an integer, got 1.5"), array_def(), "x", 1.5)
      raises(arg_err(3, "create", "btf_fd must be in 0..2147483647, got -1"), array_def(), "x", -1)
      raises(arg_err(3, "create", "btf_fd must be in 0..2147483647, got 2147483648"),
        array_def(), "x", 2 ^ 31)
      raises(arg_err(3, "create", "btf_fd must be an integer, got table"), array_def(), "x", {})
    end)

    it("unknown def field", function()
      raises(arg_err(1, "create", "unknown field 'valuesize'"),
        array_def({ valuesize = 8 }), "x")
      raises(arg_err(1, "create", "unknown field 'name'"), array_def({ name = "x" }), "x")
      raises(arg_err(1, "create", "unknown field '1'"), array_def({ [1] = "array" }), "x")
      raises(arg_err(1, "create", "unknown field 'Type'"), array_def({ Type = "array" }), "x")
    end)

    it("a field name with an embedded NUL is an unknown field", function()
      -- "key_size\0junk" is not the field key_size: it must not be ignored.
      local ok, err = pcall(MapData.create, array_def({ ["key_size\0junk"] = 4 }), uniq())
      if ok and err then err:close() end
      assert.is_false(ok, "field 'key_size\\0junk' was ignored")
      assert.truthy(tostring(err):find("unknown field 'key_size", 1, true), tostring(err))
    end)

    it("type: required, a known name or a number", function()
      raises(arg_err(1, "create", "field 'type' is required"),
        { key_size = 4, value_size = 8, max_entries = 1 }, "x")
      raises(arg_err(1, "create", "unknown map type 'arrayy'"), array_def({ type = "arrayy" }), "x")
      raises(arg_err(1, "create", "unknown map type 'ARRAY'"), array_def({ type = "ARRAY" }), "x")
      raises(arg_err(1, "create", "unknown map type ''"), array_def({ type = "" }), "x")
      raises(arg_err(1, "create", "unknown map type 'unspec'"), array_def({ type = "unspec" }), "x")
      raises(arg_err(1, "create", "field 'type' must be a name or a number, got boolean"),
        array_def({ type = true }), "x")
      raises(arg_err(1, "create", "field 'type' must be a name or a number, got table"),
        array_def({ type = {} }), "x")
      raises(arg_err(1, "create", "field 'type' must be in 1..4294967295, got 0"),
        array_def({ type = 0 }), "x")
      raises(arg_err(1, "create", "field 'type' must be in 1..4294967295, got -2"),
        array_def({ type = -2 }), "x")
      raises(arg_err(1, "create", "field 'type' must be in 1..4294967295, got 4294967296"),
        array_def({ type = 2 ^ 32 }), "x")
      raises(arg_err(1, "create", "field 'type' must be an integer, got 1.5"),
        array_def({ type = 1.5 }), "x")
    end)

    it("a type name with an embedded NUL is an unknown type", function()
      -- "array\0junk" is not "array": it must raise, not create an array.
      local ok, err = pcall(MapData.create, array_def({ type = "array\0junk" }), uniq())
      if ok and err then err:close() end
      assert.is_false(ok, "type 'array\\0junk' was accepted as 'array'")
      assert.truthy(tostring(err):find("unknown map type 'array", 1, true), tostring(err))
    end)

    it("sizes: integers in 0..2^32-1, max_entries required", function()
      raises(arg_err(1, "create", "field 'key_size' must be in 0..4294967295, got -1"),
        array_def({ key_size = -1 }), "x")
      raises(arg_err(1, "create", "field 'value_size' must be in 0..4294967295, got -8"),
        array_def({ value_size = -8 }), "x")
      raises(arg_err(1, "create", "field 'value_size' must be in 0..4294967295, got 4294967296"),
        array_def({ value_size = 2 ^ 32 }), "x")
      raises(arg_err(1, "create", "field 'max_entries' must be in 0..4294967295, got -1"),
        array_def({ max_entries = -1 }), "x")
      raises(arg_err(1, "create", "field 'max_entries' is required"),
        { type = "array", key_size = 4, value_size = 8 }, "x")
      raises(arg_err(1, "create", "field 'key_size' must be an integer, got 4.5"),
        array_def({ key_size = 4.5 }), "x")
      raises(arg_err(1, "create", "field 'max_entries' must be an integer, got 1e+300"),
        array_def({ max_entries = 1e300 }), "x")
      raises(arg_err(1, "create", "field 'key_size' must be an integer, got string"),
        array_def({ key_size = "four" }), "x")
      raises(arg_err(1, "create", "field 'value_size' must be an integer, got table"),
        array_def({ value_size = {} }), "x")
      raises(arg_err(1, "create", "field 'max_entries' must be an integer, got boolean"),
        array_def({ max_entries = true }), "x")
    end)

    it("flags: a list of known names or a number", function()
      raises(arg_err(1, "create", "unknown map flag 'mmapabel'"),
        array_def({ flags = { "mmapable", "mmapabel" } }), "x")
      raises(arg_err(1, "create", "unknown map flag 'MMAPABLE'"),
        array_def({ flags = { "MMAPABLE" } }), "x")
      raises(arg_err(1, "create", "unknown map flag 'BPF_F_MMAPABLE'"),
        array_def({ flags = { "BPF_F_MMAPABLE" } }), "x")
      raises(arg_err(1, "create", "flags[2] must be a flag name, got number"),
        array_def({ flags = { "mmapable", 1024 } }), "x")
      raises(arg_err(1, "create", "flags[1] must be a flag name, got table"),
        array_def({ flags = { {} } }), "x")
      raises(arg_err(1, "create", "field 'flags' must be a list of names or a number, got string"),
        array_def({ flags = "mmapable" }), "x")
      raises(arg_err(1, "create", "field 'flags' must be a list of names or a number, got boolean"),
        array_def({ flags = true }), "x")
      raises(arg_err(1, "create", "field 'flags' must be in 0..4294967295, got -1"),
        array_def({ flags = -1 }), "x")
      raises(arg_err(1, "create", "field 'flags' must be in 0..4294967295, got 4294967296"),
        array_def({ flags = 2 ^ 32 }), "x")
      raises(arg_err(1, "create", "field 'flags' must be an integer, got 0.5"),
        array_def({ flags = 0.5 }), "x")
    end)

    it("a flag name with an embedded NUL is an unknown flag", function()
      local ok, err = pcall(MapData.create, array_def({ flags = { "mmapable\0junk" } }), uniq())
      if ok and err then err:close() end
      assert.is_false(ok, "flag 'mmapable\\0junk' was accepted as 'mmapable'")
      assert.truthy(tostring(err):find("unknown map flag 'mmapable", 1, true), tostring(err))
    end)

    it("the other numeric fields are range-checked", function()
      raises(arg_err(1, "create", "field 'map_extra' must be in 0..9223372036854775807, got -1"),
        array_def({ map_extra = -1 }), "x")
      raises(arg_err(1, "create", "field 'map_extra' must be an integer, got string"),
        array_def({ map_extra = "three" }), "x")
      raises(arg_err(1, "create", "field 'btf_key_type_id' must be in 0..4294967295, got -1"),
        array_def({ btf_key_type_id = -1 }), "x")
      raises(arg_err(1, "create",
        "field 'btf_value_type_id' must be in 0..4294967295, got 4294967296"),
        array_def({ btf_value_type_id = 2 ^ 32 }), "x")
      raises(arg_err(1, "create",
        "field 'btf_vmlinux_value_type_id' must be in 0..4294967295, got -1"),
        array_def({ btf_vmlinux_value_type_id = -1 }), "x")
      raises(arg_err(1, "create", "field 'numa_node' must be in 0..4294967295, got -1"),
        array_def({ numa_node = -1 }), "x")
      raises(arg_err(1, "create", "field 'ifindex' must be in 0..4294967295, got 4294967296"),
        array_def({ ifindex = 2 ^ 32 }), "x")
      raises(arg_err(1, "create", "field 'ifindex' must be an integer, got 1.5"),
        array_def({ ifindex = 1.5 }), "x")
    end)

    it("inner_map_fd: a MapData or a descriptor number", function()
      raises(arg_err(1, "create", "field 'inner_map_fd' must be in 0..2147483647, got -1"),
        { type = "array_of_maps", key_size = 4, value_size = 4, max_entries = 1, inner_map_fd = -1 },
        "x")
      raises(arg_err(1, "create",
        "field 'inner_map_fd' must be in 0..2147483647, got 2147483648"),
        { type = "array_of_maps", key_size = 4, value_size = 4, max_entries = 1,
          inner_map_fd = 2 ^ 31 }, "x")
      raises(arg_err(1, "create", "field 'inner_map_fd' must be an integer, got string"),
        { type = "array_of_maps", key_size = 4, value_size = 4, max_entries = 1,
          inner_map_fd = "inner" }, "x")
      raises(arg_err(1, "create", "field 'inner_map_fd' must be an integer, got table"),
        { type = "array_of_maps", key_size = 4, value_size = 4, max_entries = 1,
          inner_map_fd = {} }, "x")
    end)

    priv.it("inner_map_fd: a closed MapData raises #priv", function()
      local inner = must_create()
      inner:close()
      raises(arg_err(1, "create", "field 'inner_map_fd' is a closed MapData"),
        { type = "array_of_maps", key_size = 4, value_size = 4, max_entries = 1,
          inner_map_fd = inner }, "x")
    end)

    priv.it("no map is created when an argument is refused #priv", function()
      local name = uniq()
      local _, before = bpf_fds()
      assert.has_error(function() MapData.create(array_def({ bogus = 1 }), name) end)
      assert.has_error(function() MapData.create(array_def({ flags = { "nope" } }), name) end)
      assert.has_error(function() MapData.create(array_def({ key_size = -1 }), name) end)
      assert.has_error(function() MapData.create(array_def(), name, -1) end)
      assert.same({}, ids_named(name))
      local _, after = bpf_fds()
      assert.equal(before, after)
    end)
  end)

  -------------------------------------------------------------------------
  describe("create #priv", function()
    priv.it("creates an array by type name, as bpftool sees it #priv", function()
      local name = uniq()
      local m = create(array_def(), name)
      assert.is_not_nil(m)
      assert.equal("bpfmap.MapData", getmetatable(m).__name)
      assert.is_true(math.type(m:fd()) == "integer" and m:fd() >= 0)
      assert.is_true(math.type(m:id()) == "integer" and m:id() > 0)
      assert.equal("anon_inode:bpf-map", fd_target(m:fd()))
      assert.equal(tostring(m:id()), fdinfo(m:fd()).map_id)
      local show = bpfobj.map_show(m:id())
      assert.equal("array", show.type)
      assert.equal(name, show.name)
      assert.equal(0, show.flags)
      assert.equal(4, show.bytes_key)
      assert.equal(8, show.bytes_value)
      assert.equal(1, show.max_entries)
      assert.same({ m:id() }, ids_named(name))
    end)

    priv.it("returns a close-on-exec descriptor #priv", function()
      local m = must_create()
      assert.is_true(has_cloexec(m:fd()))
    end)

    priv.it("creates each common type by name and by number #priv", function()
      local cases = {
        { type = "hash", key_size = 4, value_size = 8, max_entries = 4, id = 1 },
        { type = "array", key_size = 4, value_size = 8, max_entries = 4, id = 2 },
        { type = "percpu_hash", key_size = 4, value_size = 8, max_entries = 4, id = 5 },
        { type = "percpu_array", key_size = 4, value_size = 8, max_entries = 4, id = 6 },
        { type = "lru_hash", key_size = 4, value_size = 8, max_entries = 4, id = 9 },
        { type = "queue", key_size = 0, value_size = 4, max_entries = 4, id = 22 },
        -- a ring buffer's size is a power-of-2 multiple of the page size
        { type = "ringbuf", key_size = 0, value_size = 0, max_entries = PAGE_SIZE, id = 27 },
      }
      for _, c in ipairs(cases) do
        for _, t in ipairs { c.type, c.id } do
          local name = uniq()
          local m, msg = create({ type = t, key_size = c.key_size, value_size = c.value_size,
            max_entries = c.max_entries }, name)
          assert(m, msg)
          local show = bpfobj.map_show(m:id())
          assert.equal(c.type, show.type, "type " .. tostring(t))
          assert.equal(name, show.name)
          assert.equal(c.key_size, show.bytes_key)
          assert.equal(c.value_size, show.bytes_value)
          assert.equal(c.max_entries, show.max_entries)
          m:close()
        end
      end
    end)

    priv.it("accepts a 15-byte name and one with '.' and digits #priv", function()
      local n15 = "bpfmapt_" .. string.format("%07d", math.random(0, 9999999))
      assert.equal(15, #n15)
      local m = must_create(array_def(), n15)
      assert.equal(n15, bpfobj.map_show(m:id()).name)
      local dotted = "bpfmapt." .. string.format("%04d", math.random(0, 9999))
      local d = must_create(array_def(), dotted)
      assert.equal(dotted, bpfobj.map_show(d:id()).name)
    end)

    priv.it("accepts an empty name (the map has none) #priv", function()
      local m = must_create(array_def(), "")
      assert.is_nil(bpfobj.map_show(m:id()).name)
      assert.equal("", m:info().name)
    end)

    priv.it("flags by name: a list of names, bits or'ed #priv", function()
      local m = must_create(array_def({ flags = { "mmapable", "rdonly_prog" } }))
      assert.equal(0x480, bpfobj.map_show(m:id()).flags)
      assert.equal(0x480, m:info().flags)
      local h = must_create({ type = "hash", key_size = 4, value_size = 8, max_entries = 8,
        flags = { "no_prealloc" } })
      assert.equal(1, bpfobj.map_show(h:id()).flags)
      local e = must_create(array_def({ flags = {} }))
      assert.equal(0, bpfobj.map_show(e:id()).flags)
    end)

    priv.it("flags rdonly/wronly shape the descriptor, not the map #priv", function()
      -- The kernel keeps BPF_F_RDONLY/WRONLY on the fd's access mode only.
      local r = must_create(array_def({ flags = { "rdonly" } }))
      assert.equal(0, tonumber(fdinfo(r:fd()).flags, 8) & 3) -- O_RDONLY
      assert.equal(0, bpfobj.map_show(r:id()).flags)
      local w = must_create(array_def({ flags = { "wronly" } }))
      assert.equal(1, tonumber(fdinfo(w:fd()).flags, 8) & 3) -- O_WRONLY
      local rw = must_create(array_def())
      assert.equal(2, tonumber(fdinfo(rw:fd()).flags, 8) & 3) -- O_RDWR
    end)

    priv.it("flags by number #priv", function()
      local m = must_create(array_def({ flags = 0x400 }))
      assert.equal(0x400, bpfobj.map_show(m:id()).flags)
      local h = must_create({ type = "hash", key_size = 4, value_size = 8, max_entries = 8,
        flags = 1 })
      assert.equal(1, bpfobj.map_show(h:id()).flags)
      local z = must_create(array_def({ flags = 0 }))
      assert.equal(0, bpfobj.map_show(z:id()).flags)
    end)

    priv.it("flags the kernel refuses: nil, message, EINVAL #priv", function()
      local name = uniq()
      -- no_prealloc makes no sense for an array
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ flags = { "no_prealloc" } }), name))
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ flags = 0x80000000 }), name))
      assert.same({}, ids_named(name))
    end)

    priv.it("map_extra of a bloom filter #priv", function()
      local m = must_create({ type = "bloom_filter", key_size = 0, value_size = 8,
        max_entries = 16, map_extra = 3 })
      assert.equal("bloom_filter", bpfobj.map_show(m:id()).type)
      assert.equal(3, m:info().map_extra)
      local d = must_create({ type = "bloom_filter", key_size = 0, value_size = 8,
        max_entries = 16 })
      assert.equal(0, d:info().map_extra)
    end)

    priv.it("map_extra the kernel refuses: nil, message, EINVAL #priv", function()
      local name = uniq()
      -- only the low 4 bits (number of hash functions) are defined
      assert_fail("create bloom_filter map '" .. name .. "': Invalid argument", E.EINVAL,
        create({ type = "bloom_filter", key_size = 0, value_size = 8, max_entries = 16,
          map_extra = 16 }, name))
      -- and only for bloom filters (and arenas)
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ map_extra = 3 }), name))
    end)

    priv.it("inner_map_fd as a MapData and as an integer #priv", function()
      local inner = must_create(array_def())
      local outer = must_create({ type = "array_of_maps", key_size = 4, value_size = 4,
        max_entries = 2, inner_map_fd = inner })
      assert.equal("array_of_maps", bpfobj.map_show(outer:id()).type)
      assert.equal("array_of_maps", outer:info().type)
      local outer2 = must_create({ type = "array_of_maps", key_size = 4, value_size = 4,
        max_entries = 2, inner_map_fd = inner:fd() })
      assert.equal("array_of_maps", bpfobj.map_show(outer2:id()).type)
      local houter = must_create({ type = "hash_of_maps", key_size = 4, value_size = 4,
        max_entries = 2, inner_map_fd = inner })
      assert.equal("hash_of_maps", bpfobj.map_show(houter:id()).type)
      -- the inner template is still ours and usable
      assert.equal(inner:id(), inner:info().id)
    end)

    priv.it("inner_map_fd the kernel refuses: nil, message, errno #priv", function()
      local name = uniq()
      local gone = must_create()
      local gone_fd = gone:fd()
      gone:close()
      assert.is_nil(fdinfo(gone_fd))
      assert_fail("create array_of_maps map '" .. name .. "': Bad file descriptor", E.EBADF,
        create({ type = "array_of_maps", key_size = 4, value_size = 4, max_entries = 2,
          inner_map_fd = gone_fd }, name))
      local f, fd = open_regular_file()
      assert_fail("create array_of_maps map '" .. name .. "': Invalid argument", E.EINVAL,
        create({ type = "array_of_maps", key_size = 4, value_size = 4, max_entries = 2,
          inner_map_fd = fd }, name))
      f:close()
      assert.same({}, ids_named(name))
    end)

    priv.it("numa_node with the numa_node flag #priv", function()
      local m = must_create(array_def({ flags = { "numa_node" }, numa_node = 0 }))
      assert.equal(4, bpfobj.map_show(m:id()).flags)
      local name = uniq()
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ flags = { "numa_node" }, numa_node = 4096 }), name))
    end)

    priv.it("ifindex asks for offload, which the loopback cannot do #priv", function()
      local name = uniq()
      local ok, msg, err = create(array_def({ ifindex = 1 }), name)
      assert.is_nil(ok)
      assert.is_truthy(msg:find("create array map '" .. name .. "': ", 1, true) == 1, msg)
      assert.is_true(err == E.EOPNOTSUPP or err == E.EINVAL, "errno " .. tostring(err))
    end)

    priv.it("btf_vmlinux_value_type_id is only for struct_ops: EINVAL #priv", function()
      local name = uniq()
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ btf_vmlinux_value_type_id = 1 }), name))
    end)

    priv.it("an unknown btf_fd: nil, message, EBADF #priv", function()
      local name = uniq()
      local gone = must_create()
      local gone_fd = gone:fd()
      gone:close()
      assert_fail("create array map '" .. name .. "': Bad file descriptor", E.EBADF,
        create(array_def({ btf_key_type_id = 1, btf_value_type_id = 1 }), name, gone_fd))
      assert_fail("create array map '" .. name .. "': Bad file descriptor", E.EBADF,
        create(array_def({ btf_value_type_id = 1 }), name, 2147483647))
      assert.same({}, ids_named(name))
    end)

    priv.it("a btf_fd that is not BTF: nil, message, EINVAL #priv", function()
      local name = uniq()
      local other = must_create()
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ btf_key_type_id = 1, btf_value_type_id = 2 }), name, other:fd()))
    end)

    priv.it("sizes the kernel refuses: nil, message, EINVAL #priv", function()
      local name = uniq()
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ key_size = 0 }), name))
      assert_fail("create array map '" .. name .. "': Invalid argument", E.EINVAL,
        create(array_def({ max_entries = 0 }), name))
      assert_fail("create hash map '" .. name .. "': Invalid argument", E.EINVAL,
        create({ type = "hash", key_size = 0, value_size = 8, max_entries = 1 }, name))
      assert.same({}, ids_named(name))
    end)

    priv.it("a type number the kernel does not know: nil, message, EINVAL #priv", function()
      local name = uniq()
      assert_fail("create map '" .. name .. "' of type 9999: Invalid argument", E.EINVAL,
        create(array_def({ type = 9999 }), name))
    end)

    priv.it("a failed create leaks no descriptor #priv", function()
      local _, before = bpf_fds()
      for _ = 1, 5 do
        assert.is_nil((create(array_def({ key_size = 0 }))))
      end
      local _, after = bpf_fds()
      assert.equal(before, after)
    end)
  end)

  -------------------------------------------------------------------------
  describe("without privilege", function()
    priv.it("create and from_id: nil, message, EPERM #priv", function()
      local m = must_create()
      local out, why = priv.run_unprivileged(string.format([[
        local bpfmap = require "bpfmap"
        local function show(...)
          local t = table.pack(...)
          for i = 1, t.n do t[i] = tostring(t[i]) end
          io.write(table.concat(t, "|"), "\n")
        end
        show(bpfmap.MapData.create({ type = "array", key_size = 4, value_size = 4,
          max_entries = 1 }, "bpfmapt_unpriv"))
        show(bpfmap.MapData.from_id(%d))
        -- caller mistakes still raise, before any syscall
        show(pcall(bpfmap.MapData.create, { type = "nope", max_entries = 1 }, "x"))
      ]], m:id()))
      if not out then pending(why) end
      local lines = {}
      for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      local EPERM = tostring(E.EPERM)
      assert.same({
        "nil|create array map 'bpfmapt_unpriv': Operation not permitted"
          .. " (the process has neither CAP_BPF nor CAP_SYS_ADMIN)|" .. EPERM,
        "nil|from_id " .. m:id() .. ": Operation not permitted"
          .. " (needs CAP_SYS_ADMIN, which the process lacks)|" .. EPERM,
        "false|bad argument #1 to '?' (unknown map type 'nope')",
      }, lines)
    end)
  end)

  -------------------------------------------------------------------------
  describe("from_pin", function()
    it("path must be a non-empty string without NUL", function()
      assert.has_error(function() MapData.from_pin() end,
        arg_err(1, "from_pin", "path must be a string, got no value"))
      assert.has_error(function() MapData.from_pin(5) end,
        arg_err(1, "from_pin", "path must be a string, got number"))
      assert.has_error(function() MapData.from_pin({}) end,
        arg_err(1, "from_pin", "path must be a string, got table"))
      assert.has_error(function() MapData.from_pin("") end,
        arg_err(1, "from_pin", "path must not be empty"))
      assert.has_error(function() MapData.from_pin("/tmp/a\0b") end,
        arg_err(1, "from_pin", "path must not contain an embedded NUL (byte 6)"))
    end)

    describe("#priv", function()
      local fs
      before_each(function()
        if priv.can_create_map() then fs = bpffs.mount() end
      end)
      after_each(function()
        if fs then fs:cleanup() end
        fs = nil
      end)

      priv.it("opens a pinned map: same id, new close-on-exec fd #priv", function()
        local m = must_create(array_def({ flags = { "mmapable" } }))
        local path = fs.dir .. "/m"
        assert.is_true(m:pin(path))
        local p = keep(MapData.from_pin(path))
        assert.is_not_nil(p)
        assert.equal(m:id(), p:id())
        assert.are_not.equal(m:fd(), p:fd())
        assert.is_true(has_cloexec(p:fd()))
        assert.equal("anon_inode:bpf-map", fd_target(p:fd()))
        assert.equal(0x400, p:info().flags)
        -- independent descriptors
        m:close()
        assert.equal(p:id(), p:info().id)
        assert.is_true(os.remove(path))
        assert.is_false(exists(path))
      end)

      priv.it("a missing path: nil, message, ENOENT #priv", function()
        local path = fs.dir .. "/nothing"
        assert_fail("from_pin " .. path .. ": No such file or directory", E.ENOENT,
          MapData.from_pin(path))
        assert_fail("from_pin " .. fs.dir .. "/no/such/dir", E.ENOENT,
          MapData.from_pin(fs.dir .. "/no/such/dir"))
      end)

      priv.it("a path outside bpffs: nil, message, EACCES #priv", function()
        local f, _, path = open_regular_file()
        assert_fail("from_pin " .. path .. ": Permission denied", E.EACCES,
          MapData.from_pin(path))
        f:close()
        os.remove(path)
      end)

      priv.it("a pinned program: nil, 'not a BPF map', EINVAL, no fd leak #priv", function()
        local obj <close> = bpfobj.load(OBJ)
        local prog = obj.progs[1]
        local _, before = bpf_fds()
        local m, msg, errno = MapData.from_pin(prog.pin)
        assert.is_nil(m)
        assert.equal("from_pin " .. prog.pin .. ": not a BPF map (it is bpf-prog)", msg)
        assert.equal(E.EINVAL, errno)
        local _, after = bpf_fds()
        assert.equal(before, after)
      end)

      priv.it("a map pinned by bpftool (fixture) #priv", function()
        local obj <close> = bpfobj.load(OBJ)
        local want = obj:map(".bss")
        local m = keep(MapData.from_pin(want.pin))
        assert.is_not_nil(m)
        assert.equal(want.id, m:id())
        assert.equal("globals.bss", m:info().name)
        assert.is_true(has_cloexec(m:fd()))
        m:close()
      end)
    end)
  end)

  -------------------------------------------------------------------------
  describe("from_id", function()
    it("id must be an integer in 0..2^32-1", function()
      assert.has_error(function() MapData.from_id() end,
        arg_err(1, "from_id", "id must be an integer, got no value"))
      assert.has_error(function() MapData.from_id("seven") end,
        arg_err(1, "from_id", "id must be an integer, got string"))
      assert.has_error(function() MapData.from_id(1.5) end,
        arg_err(1, "from_id", "id must be an integer, got 1.5"))
      assert.has_error(function() MapData.from_id(-1) end,
        arg_err(1, "from_id", "id must be in 0..4294967295, got -1"))
      assert.has_error(function() MapData.from_id(2 ^ 32) end,
        arg_err(1, "from_id", "id must be in 0..4294967295, got 4294967296"))
      assert.has_error(function() MapData.from_id(math.maxinteger) end,
        arg_err(1, "from_id", "id must be in 0..4294967295, got " .. math.maxinteger))
    end)

    priv.it("opens a map by id: same id, new close-on-exec fd #priv", function()
      local name = uniq()
      local m = must_create(array_def(), name)
      local o = keep(MapData.from_id(m:id()))
      assert.is_not_nil(o)
      assert.equal(m:id(), o:id())
      assert.are_not.equal(m:fd(), o:fd())
      assert.is_true(has_cloexec(o:fd()))
      assert.equal(name, o:info().name)
      m:close()
      assert.equal(name, o:info().name)
    end)

    priv.it("an unknown id: nil, message, ENOENT #priv", function()
      assert_fail("from_id 4294967295: No such file or directory", E.ENOENT,
        MapData.from_id(4294967295))
      assert_fail("from_id 0: No such file or directory", E.ENOENT, MapData.from_id(0))
      -- an id that was ours and is gone
      local m = must_create()
      local id = m:id()
      m:close()
      bpfobj.wait_gone({ [id] = true }, "closed map still loaded")
      assert_fail("from_id " .. id .. ": No such file or directory", E.ENOENT,
        MapData.from_id(id))
    end)

    priv.it("the fixture's .rodata is frozen, .bss is not #priv", function()
      local obj <close> = bpfobj.load(OBJ)
      local ro = keep(MapData.from_id(obj:map(".rodata").id))
      local bss = keep(MapData.from_id(obj:map(".bss").id))
      assert.is_true(ro:info().frozen)
      assert.is_false(bss:info().frozen)
      assert.equal(1, bpfobj.map_show(ro:id()).frozen)
      ro:close()
      bss:close()
    end)
  end)

  -------------------------------------------------------------------------
  describe("from_fd", function()
    it("fd must be an integer in 0..2^31-1", function()
      assert.has_error(function() MapData.from_fd() end,
        arg_err(1, "from_fd", "fd must be an integer, got no value"))
      assert.has_error(function() MapData.from_fd("3x") end,
        arg_err(1, "from_fd", "fd must be an integer, got string"))
      assert.has_error(function() MapData.from_fd(3.5) end,
        arg_err(1, "from_fd", "fd must be an integer, got 3.5"))
      assert.has_error(function() MapData.from_fd(-1) end,
        arg_err(1, "from_fd", "fd must be in 0..2147483647, got -1"))
      assert.has_error(function() MapData.from_fd(2 ^ 31) end,
        arg_err(1, "from_fd", "fd must be in 0..2147483647, got 2147483648"))
    end)

    it("a regular file: nil, 'not a BPF map', EINVAL, no fd leak", function()
      local f, fd, path = open_regular_file()
      collectgarbage()
      local before = proc.fd_count()
      local m, msg, errno = MapData.from_fd(fd)
      collectgarbage()
      local after = proc.fd_count()
      f:close()
      os.remove(path)
      assert.is_nil(m)
      assert.equal(string.format("from_fd %d: not a BPF map (it is %s)", fd, path), msg)
      assert.equal(E.EINVAL, errno)
      assert.equal(before, after)
    end)

    it("a descriptor number that is not open: nil, message, EBADF", function()
      assert_fail("from_fd 2147483647: Bad file descriptor", E.EBADF,
        MapData.from_fd(2147483647))
    end)

    priv.it("a just-closed map descriptor: EBADF #priv", function()
      local m = must_create()
      local fd = m:fd()
      m:close()
      assert.is_nil(fdinfo(fd))
      assert_fail("from_fd " .. fd .. ": Bad file descriptor", E.EBADF, MapData.from_fd(fd))
    end)

    priv.it("duplicates: same id, new close-on-exec fd, caller keeps its own #priv", function()
      local m = must_create(array_def({ flags = { "mmapable" } }))
      local d = keep(MapData.from_fd(m:fd()))
      assert.is_not_nil(d)
      assert.equal(m:id(), d:id())
      assert.are_not.equal(m:fd(), d:fd())
      assert.is_true(has_cloexec(d:fd()))
      assert.equal("anon_inode:bpf-map", fd_target(d:fd()))
      assert.equal(0x400, d:info().flags)
      -- closing the duplicate leaves the caller's descriptor alone
      local mfd = m:fd()
      d:close()
      assert.equal(tostring(m:id()), fdinfo(mfd).map_id)
      assert.equal(m:id(), m:info().id)
      -- and the other way round
      local d2 = keep(MapData.from_fd(m:fd()))
      m:close()
      assert.equal(d2:id(), d2:info().id)
    end)

    priv.it("a pinned program's descriptor is not a map #priv", function()
      -- The only way to hold a program descriptor here is to open its pin;
      -- from_pin reports it through the same check.
      local obj <close> = bpfobj.load(OBJ)
      local m, msg, errno = MapData.from_pin(obj.progs[1].pin)
      assert.is_nil(m)
      assert.truthy(msg:find("not a BPF map", 1, true), msg)
      assert.equal(E.EINVAL, errno)
    end)
  end)

  -------------------------------------------------------------------------
  describe("pin #priv", function()
    local fs
    before_each(function()
      if priv.can_create_map() then fs = bpffs.mount() end
    end)
    after_each(function()
      if fs then fs:cleanup() end
      fs = nil
    end)

    priv.it("pins onto a bpffs path and returns true #priv", function()
      local m = must_create()
      local path = fs.dir .. "/pinned_map"
      assert.is_true(m:pin(path))
      assert.equal(m:id(), bpfobj.map_show_pinned(path).id)
      -- a second name for the same map is fine
      assert.is_true(m:pin(fs.dir .. "/second_name"))
      -- the pin keeps the map alive after close
      local id = m:id()
      m:close()
      local again = keep(MapData.from_pin(path))
      assert.equal(id, again:id())
      again:close()
      assert.is_true(os.remove(path))
      assert.is_true(os.remove(fs.dir .. "/second_name"))
      assert.is_false(exists(path))
    end)

    priv.it("pins into a subdirectory #priv", function()
      local m = must_create()
      bpffs.sh("mkdir " .. bpffs.quote(fs.dir .. "/sub"))
      local path = fs.dir .. "/sub/m"
      assert.is_true(m:pin(path))
      assert.is_true(exists(path))
      assert.is_true(os.remove(path))
    end)

    priv.it("onto an existing path: nil, 'pin <path>: File exists', EEXIST #priv", function()
      local m = must_create()
      local other = must_create()
      local path = fs.dir .. "/taken"
      assert.is_true(m:pin(path))
      local ok, msg, err = m:pin(path)
      assert.is_nil(ok)
      assert.equal("pin " .. path .. ": File exists", msg)
      assert.equal(E.EEXIST, err)
      assert_fail("pin " .. path .. ": File exists", E.EEXIST, other:pin(path))
      -- the pin still names the first map
      assert.equal(m:id(), bpfobj.map_show_pinned(path).id)
      assert.is_true(os.remove(path))
    end)

    priv.it("in a directory that does not exist: ENOENT #priv", function()
      local m = must_create()
      local path = fs.dir .. "/nosuchdir/m"
      assert_fail("pin " .. path .. ": No such file or directory", E.ENOENT, m:pin(path))
      assert.is_false(exists(path))
    end)

    priv.it("a name too long for the filesystem: ENAMETOOLONG #priv", function()
      local m = must_create()
      local path = fs.dir .. "/" .. string.rep("n", 300)
      assert_fail("pin " .. path .. ": File name too long", E.ENAMETOOLONG, m:pin(path))
      assert_fail("from_pin " .. path .. ": File name too long", E.ENAMETOOLONG,
        MapData.from_pin(path))
    end)

    priv.it("outside bpffs: EPERM, saying the dir is not on a bpf filesystem #priv", function()
      local m = must_create()
      local dir = trim(bpffs.sh("mktemp -d /tmp/bpfmaptXXXXXX"))
      local path = dir .. "/m"
      local ok, msg, err = m:pin(path)
      local left = exists(path)
      bpffs.sh("rm -rf " .. bpffs.quote(dir))
      assert.is_nil(ok)
      assert.equal("pin " .. path .. " (" .. dir
        .. " is not on a bpf filesystem): Operation not permitted", msg)
      assert.equal(E.EPERM, err)
      assert.is_false(left)
    end)

    priv.it("outside bpffs, relative and top-level paths name their dir #priv", function()
      local m = must_create()
      local rel = uniq()
      assert_fail("pin " .. rel .. " (. is not on a bpf filesystem): Operation not permitted",
        E.EPERM, m:pin(rel))
      assert.is_false(exists(rel))
      local top = "/" .. uniq()
      assert_fail("pin " .. top .. " (/ is not on a bpf filesystem): Operation not permitted",
        E.EPERM, m:pin(top))
      assert.is_false(exists(top))
    end)

    priv.it("an EPERM inside bpffs does not claim the dir is not bpffs #priv", function()
      -- bpffs reserves names with a dot: the kernel answers EPERM.
      local m = must_create()
      local path = fs.dir .. "/a.b"
      assert_fail("pin " .. path .. ": Operation not permitted", E.EPERM, m:pin(path))
      assert.is_false(exists(path))
    end)

    priv.it("path must be a non-empty string without NUL #priv", function()
      local m = must_create()
      assert.has_error(function() m:pin() end,
        arg_err(1, "pin", "path must be a string, got no value"))
      assert.has_error(function() m:pin(7) end,
        arg_err(1, "pin", "path must be a string, got number"))
      assert.has_error(function() m:pin("") end,
        arg_err(1, "pin", "path must not be empty"))
      assert.has_error(function() m:pin(fs.dir .. "/x\0y") end,
        arg_err(1, "pin", "path must not contain an embedded NUL (byte "
          .. (#fs.dir + 2) .. ")"))
      assert.is_false(exists(fs.dir .. "/x"))
    end)
  end)

  -------------------------------------------------------------------------
  describe("fd, id, info #priv", function()
    priv.it("fd is the descriptor, id the kernel's id #priv", function()
      local m = must_create()
      assert.equal("anon_inode:bpf-map", fd_target(m:fd()))
      assert.equal(tostring(m:id()), fdinfo(m:fd()).map_id)
      assert.equal(bpfobj.map_show(m:id()).id, m:id())
      -- stable
      assert.equal(m:fd(), m:fd())
      assert.equal(m:id(), m:id())
    end)

    priv.it("info is a fresh MapInfo each call #priv", function()
      local name = uniq()
      local m = must_create(array_def(), name)
      local before = m:info()
      assert.equal("bpfmap.MapInfo", getmetatable(before).__name)
      assert.equal(m:id(), before.id)
      assert.equal(name, before.name)
      assert.is_false(before.frozen)
      bpffs.sh("bpftool map freeze id " .. m:id())
      local after = m:info()
      assert.is_true(after.frozen)
      assert.is_false(before.frozen) -- a snapshot
      assert.equal(1, bpfobj.map_show(m:id()).frozen)
    end)

    priv.it("methods check their self #priv", function()
      assert.has_error(function() MapData.methods.fd({}) end,
        arg_err(1, "fd", "bpfmap.MapData expected, got table"))
      assert.has_error(function() MapData.methods.info(nil) end,
        arg_err(1, "info", "bpfmap.MapData expected, got nil"))
      assert.has_error(function() MapData.methods.close("x") end,
        arg_err(1, "close", "bpfmap.MapData expected, got string"))
    end)
  end)

  -------------------------------------------------------------------------
  describe("tostring #priv", function()
    priv.it("is a one-line bpftool-like summary #priv", function()
      local name = uniq()
      local m = must_create(array_def({ flags = { "mmapable" } }), name)
      local s = tostring(m)
      local want = string.format("%d: array  name %s  flags 0x400  key 4B  value 8B  max_entries 1",
        m:id(), name)
      assert.truthy(s:find(want, 1, true), s)
      assert.is_nil(s:find("\n", 1, true))
      assert.is_nil(s:find("frozen", 1, true))
      assert.is_nil(s:find("btf_id", 1, true))
    end)

    priv.it("says frozen and btf_id for the fixture's .rodata #priv", function()
      local obj <close> = bpfobj.load(OBJ)
      local id = obj:map(".rodata").id
      local show = bpfobj.map_show(id)
      local m = keep(MapData.from_id(id))
      local want = string.format(
        "%d: array  name globals.rodata  flags 0x%x  key 4B  value %dB  max_entries 1  btf_id %d  frozen",
        id, show.flags, show.bytes_value, show.btf_id)
      assert.truthy(tostring(m):find(want, 1, true), tostring(m))
      m:close()
    end)

    priv.it("of a closed MapData is 'MapData (closed)' #priv", function()
      local m = must_create()
      m:close()
      assert.equal("MapData (closed)", tostring(m))
    end)
  end)

  -------------------------------------------------------------------------
  describe("lifecycle #priv", function()
    priv.it("close returns true, closes the descriptor, and is idempotent #priv", function()
      local m = must_create()
      local fd = m:fd()
      assert.is_true(m:close())
      assert.is_nil(fdinfo(fd))
      assert.is_true(m:close())
      assert.is_true(m:close())
    end)

    priv.it("every method of a closed MapData raises #priv", function()
      local m = must_create()
      m:close()
      local msg = "attempt to use a closed MapData"
      assert.has_error(function() m:fd() end, msg)
      assert.has_error(function() m:id() end, msg)
      assert.has_error(function() m:info() end, msg)
      assert.has_error(function() m:pin("/tmp/bpfmapt_never") end, msg)
      assert.has_error(function() MapData.methods.fd(m) end, msg)
      assert.is_false(exists("/tmp/bpfmapt_never"))
    end)

    priv.it("a closed MapData never touches its old descriptor number #priv", function()
      local fs = bpffs.mount()
      local ok, err = pcall(function()
        local m = must_create()
        local old_fd, old_id = m:fd(), m:id()
        m:close()
        -- Another map takes the freed number (the lowest free one is
        -- handed out, so this usually happens at once).
        local other
        for _ = 1, 64 do
          local c = must_create()
          if c:fd() == old_fd then other = c break end
        end
        assert(other, "no new map reused descriptor " .. old_fd)
        assert.are_not.equal(old_id, other:id())
        local msg = "attempt to use a closed MapData"
        assert.has_error(function() m:fd() end, msg)
        assert.has_error(function() m:id() end, msg)
        assert.has_error(function() m:info() end, msg)
        assert.has_error(function() m:pin(fs.dir .. "/stolen") end, msg)
        assert.equal("MapData (closed)", tostring(m))
        assert.is_true(m:close()) -- must not close the other map's descriptor
        -- the other map is intact and nothing was pinned
        assert.is_false(exists(fs.dir .. "/stolen"))
        assert.equal(tostring(other:id()), fdinfo(old_fd).map_id)
        assert.equal(other:id(), other:info().id)
        assert.equal(old_fd, other:fd())
        assert.is_true(other:pin(fs.dir .. "/other"))
        assert.is_true(os.remove(fs.dir .. "/other"))
      end)
      fs:cleanup()
      assert(ok, err)
    end)

    priv.it("local m <close> closes at scope end #priv", function()
      local outer, fd
      do
        local m <close> = must_create()
        outer, fd = m, m:fd()
        assert.equal("anon_inode:bpf-map", fd_target(fd))
      end
      assert.equal("MapData (closed)", tostring(outer))
      assert.is_nil(fdinfo(fd))
      assert.has_error(function() outer:fd() end, "attempt to use a closed MapData")
    end)

    priv.it("<close> also closes when the scope is left by an error #priv", function()
      local outer, fd
      local ok = pcall(function()
        local m <close> = must_create()
        outer, fd = m, m:fd()
        error("boom")
      end)
      assert.is_false(ok)
      assert.equal("MapData (closed)", tostring(outer))
      assert.is_nil(fdinfo(fd))
    end)

    priv.it("an unreachable MapData is closed by the collector #priv", function()
      local fd, id
      do
        local m = assert(MapData.create(array_def(), uniq()))
        made_ids[m:id()] = true
        fd, id = m:fd(), m:id()
        m = nil -- luacheck: ignore
      end
      collectgarbage()
      collectgarbage()
      local info = fdinfo(fd)
      assert.is_true(info == nil or info.map_id ~= tostring(id))
    end)

    priv.it("a failed from_* leaves nothing open #priv", function()
      local _, before = bpf_fds()
      MapData.from_id(4294967295)
      MapData.from_fd(2147483647)
      MapData.from_pin("/tmp/bpfmapt_does_not_exist")
      local f, fd = open_regular_file()
      MapData.from_fd(fd)
      f:close()
      local _, after = bpf_fds()
      assert.equal(before, after)
    end)
  end)
end)
