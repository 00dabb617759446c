-- Checks the test helpers themselves against globals.bpf.o, so a broken
-- witness is caught here rather than blamed on bpfmap.
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)

local OBJ = "build/fixtures/globals.bpf.o"
local SRC = "spec/fixtures/globals.bpf.c"

local function ensure_fixture()
  local f = io.open(OBJ, "rb")
  if f then f:close() return end
  -- Debian keeps asm/types.h under the multiarch dir, which clang's BPF
  -- target does not search by default.
  local multiarch = bpffs.sh("gcc -dumpmachine 2>/dev/null || "
    .. "dpkg-architecture -qDEB_HOST_MULTIARCH"):gsub("%s+$", "")
  bpffs.sh("mkdir -p build/fixtures && clang -g -O2 -target bpf"
    .. " -I/usr/include/" .. multiarch .. " -c " .. SRC .. " -o " .. OBJ)
end

-- Little-endian integer at 0-based byte offset `off` of a binary string.
local function le(s, off, size)
  return (string.unpack("<I" .. size, s, off + 1))
end

describe("spec helpers", function()
  it("bpffs.read_file reads a whole binary file, nil when it cannot", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("a\0b\n\255")
    f:close()
    assert.equal("a\0b\n\255", bpffs.read_file(path))
    os.remove(path)
    assert.is_nil(bpffs.read_file(path))
  end)

  describe("tracked", function()
    local tracked = require "spec.helpers.tracked"

    it("uniq names fit the kernel's 15 bytes, with at least 4 fresh digits", function()
      assert.matches("^bpfmapt_%x%x%x%x%x%x$", tracked.uniq())
      assert.matches("^bpfmapt_bat%x%x%x%x$", tracked.uniq("bpfmapt_bat"))
      assert.matches("^bpfmapt_cli%x%x%x%x$", tracked.new("bpfmapt_cli").uniq())
      assert.matches("^bpfmapt_%x%x%x%x%x%x$", tracked.new().uniq())
      assert.are_not.equal(tracked.uniq(), tracked.uniq())
      assert.has_error(function() tracked.uniq("bpfmapt_toolong") end,
        "map name prefix too long for 4 unique digits: bpfmapt_toolong")
      assert.has_error(function() tracked.new("bpfmapt_toolong") end,
        "map name prefix too long for 4 unique digits: bpfmapt_toolong")
    end)
  end)
end)

priv.describe("spec helpers #priv", function()
  setup(ensure_fixture)

  describe("bpffs", function()
    it("mounts a private bpffs and cleans up idempotently", function()
      local fs = bpffs.mount()
      assert.is_nil(fs.dir:find(".", 1, true))
      assert.equal("bpf_fs", (bpffs.sh("stat -f -c %T " .. fs.dir):gsub("%s+$", "")))
      assert.is_true(bpffs.exists(fs.dir))
      assert.is_false(bpffs.exists(fs.dir .. "/it's not there"))
      fs:cleanup()
      fs:cleanup()
      assert.is_nil(io.open(fs.dir, "r"))
      assert.is_false(bpffs.exists(fs.dir))
    end)

    it("sh raises with the command and stderr", function()
      local ok, err = pcall(bpffs.sh, "echo oops >&2; exit 3")
      assert.is_false(ok)
      assert.truthy(err:find("exit 3", 1, true))
      assert.truthy(err:find("oops", 1, true))
    end)
  end)

  describe("bpfobj", function()
    local obj

    before_each(function() obj = bpfobj.load(OBJ) end)
    after_each(function() if obj then obj:unload() end end)

    it("finds the data maps and the program", function()
      for _, name in ipairs { "globals.bss", "globals.data", "globals.rodata", ".data.custom" } do
        assert.is_table(obj.maps[name], name)
        assert.is_number(obj.maps[name].id)
      end
      assert.equal(obj.maps["globals.bss"], obj:map(".bss"))
      assert.has_error(function() obj:map("nope") end)
      -- "data" ends both globals.data and globals.rodata: ambiguous.
      assert.has_error(function() obj:map("data") end)
      assert.equal(1, #obj.progs)
      assert.equal("handle", obj.progs[1].name)
    end)

    it("reads initial values of every data section", function()
      assert.equal(5, le(bpfobj.map_bytes(obj:map(".data").id), 0, 4))
      assert.equal(100, le(bpfobj.map_bytes(obj:map(".data").id), 4, 4))
      assert.equal(7, le(bpfobj.map_bytes(obj:map(".data.custom").id), 0, 4))
      assert.equal(10, le(bpfobj.map_bytes(obj:map(".rodata").id), 0, 4))
      local bss = bpfobj.map_bytes(obj:map(".bss").id)
      assert.equal(bpfobj.map_show(obj:map(".bss").id).bytes_value, #bss)
      assert.equal(string.rep("\0", #bss), bss)
    end)

    it("round-trips a write through bpftool", function()
      local id = obj:map(".data").id
      bpfobj.map_update(id, string.pack("<i4I4", -1, 0xdeadbeef))
      local v = bpfobj.map_bytes(id)
      assert.equal(-1, (string.unpack("<i4", v)))
      assert.equal(0xdeadbeef, le(v, 4, 4))
      -- .rodata is frozen by libbpf, so userspace writes must fail.
      assert.has_error(function()
        bpfobj.map_update(obj:map(".rodata").id, string.pack("<I4", 1))
      end)
    end)

    it("loads two independent instances of one object", function()
      local second = bpfobj.load(OBJ)
      local ok, err = pcall(function()
        assert.are_not.equal(obj.dir, second.dir)
        assert.are_not.equal(obj:map(".bss").id, second:map(".bss").id)
        assert.equal(obj:map(".bss").name, second:map(".bss").name)
      end)
      second:unload()
      assert(ok, err)
    end)

    it("bytes decodes bpftool's JSON byte lists, spaced_hex writes its hex arguments", function()
      assert.equal("\0\255*", bpfobj.bytes({ "0x00", "0xff", "0x2a" }))
      assert.equal("", bpfobj.bytes({}))
      assert.equal("00 ff 2a", bpfobj.spaced_hex("\0\255*"))
      assert.equal("", bpfobj.spaced_hex(""))
    end)

    it("lookup, update and map_entries see key 0 as map_bytes does", function()
      local id = obj:map(".data").id
      local key0 = string.pack("<I4", 0)
      assert.equal(bpfobj.map_bytes(id), bpfobj.lookup(id, key0))
      local planted = string.pack("<i4I4", -7, 0xfeedf00d)
        .. bpfobj.map_bytes(id):sub(9)
      bpfobj.update(id, key0, planted)
      assert.equal(planted, bpfobj.map_bytes(id))
      assert.equal(planted, bpfobj.lookup(id, key0))
      local entries, n = bpfobj.map_entries(id)
      assert.same({ [key0] = planted }, entries)
      assert.equal(1, n)
      -- past max_entries: bpftool finds no such key
      assert.is_nil(bpfobj.lookup(id, string.pack("<I4", 1)))
    end)

    -- The map is made by bpftool too, so nothing here rests on bpfmap.
    it("lookup, update and map_entries give one value per possible CPU", function()
      local fs = bpffs.mount()
      local id
      local ok, err = pcall(function()
        local pin = fs.dir .. "/pc"
        bpffs.sh("bpftool map create " .. bpffs.quote(pin)
          .. " type percpu_array key 4 value 8 entries 2 name bpfmapt_hlppc")
        id = bpfobj.map_show_pinned(pin).id
        local key0, key1 = string.pack("<I4", 0), string.pack("<I4", 1)
        local value = string.pack("<I8", 0x0102030405060708)
        bpfobj.update(id, key1, value)
        local want, zeros = {}, {}
        for c = 1, bpfobj.ncpus() do want[c], zeros[c] = value, string.rep("\0", 8) end
        assert.same(want, bpfobj.lookup(id, key1))
        assert.same(zeros, bpfobj.lookup(id, key0))
        local entries, n = bpfobj.map_entries(id)
        assert.same({ [key0] = zeros, [key1] = want }, entries)
        assert.equal(2, n)
      end)
      fs:cleanup()
      if id then bpfobj.wait_gone({ [id] = true }, "bpftool's per-CPU map still present") end
      assert(ok, err)
    end)

    it("unload frees the maps and is idempotent", function()
      local ids = {}
      for _, m in pairs(obj.maps) do ids[#ids + 1] = m.id end
      obj:unload()
      obj:unload()
      local live = bpfobj.map_ids()
      for _, id in ipairs(ids) do assert.is_nil(live[id]) end
      obj = nil
    end)
  end)
end)
