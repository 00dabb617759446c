-- The `bpfmap` command, continued: `set` by enumerator name on a hash map,
-- with and without the key, as text and --json. The object is
-- examples/bpf/knobs.bpf.o loaded by bpfmap.Object (not attached), its
-- maps addressed by id, so a concurrent run's maps of the same names are
-- never touched; closing the object at the end unloads them.
local bpfmap = require "bpfmap"
local run = require("spec.helpers.cli").run
local priv = require("spec.helpers.priv").bind(_ENV)
local json = require "dkjson"

local OBJECT = "build/examples/knobs.bpf.o"

local function key(n) return string.pack("<I4", n) end

priv.describe("bpfmap set by enumerator name #priv", function()
  local obj, knobs, id

  before_each(function()
    obj = assert(bpfmap.Object.open(OBJECT))
    assert(obj:load())
    knobs = assert(obj:map("knobs_by_tgid"))
    id = tostring(knobs:id())
  end)
  after_each(function()
    knobs:close()
    obj:close()
  end)

  it("on a hash map without the key fails naming the key, and creates nothing", function()
    local code, out, err = run("set", id, "mode", "MODE_AUTO", "--key", "5")
    assert.equal("", out)
    assert.equal("bpfmap: map 'knobs_by_tgid' (id " .. id .. ") has no entry for key 5\n", err)
    assert.equal(1, code)
    assert.is_nil(knobs:lookup(key(5)))
    -- and with --json: the same error on stderr, nothing on stdout
    code, out, err = run("--json", "set", id, "mode", "MODE_OFF", "--key", "0x5")
    assert.same({ 1, "", "bpfmap: map 'knobs_by_tgid' (id " .. id .. ") has no entry for key 0x5\n" },
      { code, out, err })
    assert.is_nil(knobs:lookup(key(5)))
  end)

  it("writes that field only and prints before -> after as numbers", function()
    assert(knobs:write({ mode = "MODE_ON", level = 7 }, key(5)))
    local code, out, err = run("set", id, "mode", "MODE_AUTO", "--key", "5")
    assert.same({ 0, "mode: 1 -> 2\n", "" }, { code, out, err })
    assert.same({ mode = "MODE_AUTO", level = 7 }, knobs:read(key(5)))
  end)

  it("--json has before, after, field and the enumerator (m:write gives no store report)", function()
    assert(knobs:write({ mode = "MODE_AUTO", level = 1 }, key(9)))
    local code, out, err = run("--json", "set", id, "mode", "MODE_OFF", "--key", "9")
    assert.equal("", err)
    assert.equal(0, code)
    local v, _, e = json.decode(out)
    assert.is_nil(e)
    assert.same({ map = "knobs_by_tgid", id = knobs:id(), path = "mode", key = "9", field = "mode",
      before = 2, after = 0, enumerator = "MODE_OFF" }, v)
    assert.same({ mode = "MODE_OFF", level = 1 }, knobs:read(key(9)))
  end)

  it("refuses an unknown enumerator and writes nothing", function()
    assert(knobs:write({ mode = "MODE_ON", level = 4 }, key(3)))
    local code, out, err = run("set", id, "mode", "MODE_SIDEWAYS", "--key", "3")
    assert.equal("", out)
    assert.matches("^bpfmap: write map 'knobs_by_tgid' %(id " .. id .. "%) field 'mode': .*"
      .. "enum mode has no enumerator 'MODE_SIDEWAYS'; nothing written\n$", err)
    assert.equal(1, code)
    assert.same({ mode = "MODE_ON", level = 4 }, knobs:read(key(3)))
  end)
end)
