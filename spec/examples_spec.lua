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

  it("killswitch.lua: the crash global makes the program report errors in its map", function()
    local ok, out = run("examples/killswitch.lua")
    assert.is_true(ok, out)
    assert.matches("scenario kill switch off: ok %([%d.]+s%)\n"
      .. "  write target_tgid in killswit%.bss: 0 %-> %d+\n"
      .. "  write crash in killswit%.bss: 0 %-> 0\n"
      .. "  step 100 calls: ok %([%d.]+s%)\n"
      .. "  check every call counted: ok: calls=100\n"
      .. "  check no error reported: ok: errors=0 code=0 first at call 0\n", out)
    assert.matches("scenario kill switch on: ok %([%d.]+s%)\n"
      .. "  write target_tgid in killswit%.bss: 0 %-> %d+\n"
      .. "  write crash in killswit%.bss: 0 %-> 7\n"
      .. "  step 100 calls: ok %([%d.]+s%)\n"
      .. "  check every call counted: ok: calls=100\n"
      .. "  check errors reported with the code: ok: errors=100 code=7 first at call 1\n", out)
  end)

  it("tuning.lua: a nested field raised by dot-path while the workload runs takes effect", function()
    local ok, out = run("examples/tuning.lua")
    assert.is_true(ok, out)
    assert.matches("  workload running: allowed=50 throttled=%d+\n", out)
    assert.matches("  cfg%.limits%.max_calls in tuning%.data %(offset 4, __u32%): 50 %-> 120, while the workload runs\n", out)
    assert.matches("scenario tuning: ok", out)
    assert.matches("  write cfg%.limits%.max_calls in tuning%.data: 10 %-> 50\n", out)
    assert.matches("  step workload: ok", out)
    assert.matches("  check the first limit held: ok: allowed=50 %(throttled=%d+%) before the raise\n", out)
    local made = out:match("  check the raised limit took effect while it ran: ok: allowed=120 throttled=180 of 300 calls %((%d+) made at the raise%)")
    assert.is_not_nil(made, out)
    assert.is_true(tonumber(made) >= 60 and tonumber(made) < 300, made)
  end)

  it("waiter.lua: a child waits for the write-done signal, and is woken with a failure", function()
    local ok, out = run("examples/waiter.lua")
    assert.is_true(ok, out)
    -- the program appears 0.3 s after the scenario starts; the child waits for it
    local waited = out:match("child: writes done after ([%d.]+)s; 200 calls\n")
    assert.is_not_nil(waited, out)
    assert.is_true(tonumber(waited) >= 0.25, waited)
    assert.matches("scenario waiter: ok %([%d.]+s%)\n  write go in waiter%.bss: 0 %-> 1\n  step child: ok", out)
    assert.matches("  check the child was started before the writes: ok: started 0%.[2-9]%d+s before\n", out)
    assert.matches("  check its workload came after the write: ok: calls before go=0 after go=200, "
      .. "first call [%d.]+s after the writes\n", out)
    assert.matches("child: not running the workload: write%-done signal failed: writes: write %.bss goo=1: "
      .. "no map named '%*%.bss' used by program 'bpfmap_waiter' has field 'goo'.*%(gave up after 0%.5s%)\n", out)
    assert.matches("scenario waiter: FAILED %(0%.[5-9]%d*s%)\n  error: writes: write %.bss goo=1", out)
    assert.matches("  step child: FAILED %([%d.]+s%): exited with code 3\n", out)
    assert.matches("  check its workload came after the write: skipped: not run: the scenario already failed", out)
    assert.matches("service: program bpfmap_waiter loaded and attached\n", out)
  end)
end)
