-- Btf handles and libbpf's log capture.
local bpfmap = require "bpfmap"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)

local E = bpfmap.errno

priv.describe("Btf #priv", function()
  local obj, btf_id

  setup(function()
    obj = bpfobj.load("build/fixtures/globals.bpf.o")
    btf_id = bpfobj.map_show(obj:map(".bss").id).btf_id
  end)
  teardown(function() obj:unload() end)

  it("opens a kernel BTF object by id and finds types by name and kind", function()
    local btf <close> = assert(bpfmap.Btf.from_id(btf_id))
    assert.equal(btf_id, btf:id())
    assert.is_true(btf:fd() >= 0)
    local datasec = assert(btf:find(".bss", "datasec"))
    local m <close> = assert(bpfmap.MapData.from_id(obj:map(".bss").id))
    assert.equal(m:info().btf_value_type_id, datasec)
    assert.equal(".bss", btf:type_name(datasec))
    assert.equal("struct stats", btf:type_name(btf:find("stats", "struct")))
    assert.is_nil(btf:find("no_such_type"))
    assert.is_nil(btf:find("stats", "union"))
    assert.matches("^Btf " .. btf_id .. " %(%d+ types%)$", tostring(btf))
  end)

  it("returns nil, message, ENOENT for an id that is not loaded", function()
    local btf, err, code = bpfmap.Btf.from_id(4294967295)
    assert.is_nil(btf)
    assert.equal(E.ENOENT, code)
    assert.equal("Btf.from_id 4294967295: No such file or directory", err)
  end)

  it("raises for bad arguments", function()
    assert.has_error(function() bpfmap.Btf.from_id(-1) end,
      "bad argument #1 to 'from_id' (id must be in 0..4294967295, got -1)")
    local btf <close> = assert(bpfmap.Btf.from_id(btf_id))
    assert.has_error(function() btf:find("a\0b") end,
      "bad argument #1 to 'find' (name must not contain an embedded NUL (byte 1))")
    assert.has_error(function() btf:find("stats", "bogus") end)
    assert.has_error(function() btf:type_name(1 << 31) end)
  end)

  it("raises on a closed handle and closes twice", function()
    local btf = assert(bpfmap.Btf.from_id(btf_id))
    assert.is_true(btf:close())
    assert.is_true(btf:close())
    assert.equal("Btf (closed)", tostring(btf))
    assert.has_error(function() btf:fd() end, "attempt to use a closed Btf")
    assert.has_error(function() btf:find("stats") end, "attempt to use a closed Btf")
  end)
end)

describe("libbpf log", function()
  it("set_log takes a level and returns the previous one", function()
    assert.equal("off", bpfmap.set_log("warn"))
    assert.equal("warn", bpfmap.set_log("debug"))
    assert.equal("debug", bpfmap.set_log("off"))
    assert.has_error(function() bpfmap.set_log("loud") end)
    assert.has_error(function() bpfmap.set_log() end)
  end)

  it("last_log is a string", function()
    assert.equal("string", type(bpfmap.last_log()))
  end)
end)
