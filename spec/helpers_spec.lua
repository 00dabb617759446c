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

priv.describe("spec helpers #priv", function()
  setup(ensure_fixture)

  describe("bpffs", function()
    it("mounts a private bpffs and cleans up idempotently", function()
      local fs = bpffs.mount()
      assert.is_nil(fs.dir:find(".", 1, true))
      assert.equal("bpf_fs", (bpffs.sh("stat -f -c %T " .. fs.dir):gsub("%s+$", "")))
      fs:cleanup()
      fs:cleanup()
      assert.is_nil(io.open(fs.dir, "r"))
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
