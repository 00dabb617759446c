-- The examples `make demo` runs are run here too, so they cannot rot.
-- Their outputs are exact by construction (the examples order their
-- processes with signals and flag files, never with sleeps), so these
-- checks bound no time from below and none tighter than the examples'
-- own generous timeouts.
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

  it("write_global.lua loads a program and sets its globals and a hash map entry by name", function()
    local ok, out = run("examples/write_global.lua")
    assert.is_true(ok, out)
    assert.matches("^loaded build/examples/knobs%.bpf%.o: program count_getpid, id %d+\n", out)
    assert.matches("\ncrash%s+in knobs%.bss%s+offset%s+%d+%s+int%s+0 %-> 1%s+%(mmap, atomic=true%)\n", out)
    assert.matches("\ntuning%.rate%.limit%s+in knobs%.data%s+offset%s+6%s+__u16%s+100 %-> 250%s+%(mmap, atomic=true%)\n",
      out)
    assert.matches("\ntoo big   %-> ERANGE%? true: write %.data tuning%.rate%.burst=70000: map 'knobs%.data' %(id %d+%) "
      .. "field 'tuning%.rate%.burst' %(__u16 at offset 4%): value 70000 out of range 0%.%.65535; nothing written\n", out)
    assert.matches("\ntuning    %-> sample_every=1 rate%.burst=4 rate%.limit=250\n", out)
    assert.matches("\nknobs_by_tgid%[%d+%] %-> mode=MODE_OFF level=3 %(mode as a number: 0%)\n$", out)
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
    assert.matches("  workload paused after 80 calls: allowed=50 throttled=30\n", out)
    assert.matches("  cfg%.limits%.max_calls in tuning%.data %(offset 4, __u32%): 50 %-> 120, while the workload runs\n", out)
    assert.matches("scenario tuning: ok", out)
    assert.matches("  write cfg%.limits%.max_calls in tuning%.data: 10 %-> 50\n", out)
    assert.matches("  step workload: ok", out)
    assert.matches("  check the first limit held: ok: allowed=50 throttled=30 before the raise\n", out)
    assert.matches("  check the raised limit took effect while it ran: ok: allowed=120 throttled=180 of 300 calls "
      .. "%(80 made at the raise%)\n", out)
  end)

  it("waiter.lua: a child waits for the write-done signal, and is woken with a failure", function()
    local ok, out = run("examples/waiter.lua")
    assert.is_true(ok, out)
    -- the service loads the program only once the child is waiting
    assert.matches("^waiter: [^\n]*\nchild: waiting for the scenario's writes\n"
      .. "child: writes done after [%d.]+s; 200 calls\n", out)
    assert.matches("scenario waiter: ok %([%d.]+s%)\n  write go in waiter%.bss: 0 %-> 1\n  step child: ok", out)
    assert.matches("  check the child was started before the writes: ok: started [%d.]+s before\n", out)
    assert.matches("  check its workload came after the write: ok: calls before go=0 after go=200, "
      .. "first call [%d.]+s after the writes\n", out)
    assert.matches("child: not running the workload: write%-done signal failed: writes: write %.bss goo=1: "
      .. "no map named '%*%.bss' among the maps given in opts has field 'goo' %(waiter%.bss %(id %d+%): "
      .. "no variable 'goo' in %.bss %(it has: go%).*%(gave up after 0%.5s%)\n", out)
    assert.matches("scenario waiter: FAILED %([%d.]+s%)\n  error: writes: write %.bss goo=1", out)
    assert.matches("  step child: FAILED %([%d.]+s%): exited with code 3\n", out)
    assert.matches("  check its workload came after the write: skipped: not run: the scenario already failed", out)
    assert.matches("service: the child is waiting; program bpfmap_waiter loaded, attached, its %.bss pinned\n$", out)
  end)
end)
