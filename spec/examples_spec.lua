-- The examples `make demo` runs are run here too, so they cannot rot.
local priv = require("spec.helpers.priv").bind(_ENV)
local function run(script)
  local p = assert(io.popen("lua5.4 " .. script .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

priv.describe("examples #priv", function()
  it("maps.lua creates, pins, reopens and lists a map", function()
    local ok, out = run("examples/maps.lua")
    assert.is_true(ok, out)
    assert.matches("created   MapData %d+: array  name demo_counts", out)
    assert.matches("pin again %-> nil, \"pin /tmp/bpfmapdemo%w+/demo_counts: File exists\", EEXIST%? true", out)
    assert.matches("from_pin  MapData %d+: array  name demo_counts", out)
    assert.matches("from_id   MapData %d+: array  name demo_counts", out)
    assert.matches("flags=mmapable frozen=false", out)
    assert.matches("listed by loaded_maps%(%): true", out)
  end)

  it("write_global.lua sets a program's globals by name", function()
    local ok, out = run("examples/write_global.lua")
    assert.is_true(ok, out)
    assert.matches("crash%s+in knobs.bss%s+offset%s+%d+%s+int%s+0 %-> 1%s+%(mmap, atomic=true%)", out)
    assert.matches("tuning.rate.limit%s+in knobs.data%s+offset%s+%d+%s+__u16%s+100 %-> 250", out)
    assert.matches("too big   %-> ERANGE%? true", out)
  end)
end)
