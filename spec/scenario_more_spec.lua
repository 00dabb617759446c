-- bpfmap.scenario, continued: definition errors at the caller's line and
-- checked up front, a failure that stops the run and its children,
-- find = { pin = path }, ctx:map's handles, a waiting child's clock, and
-- wait_until's argument check. The fixture is loaded with bpfmap.Object
-- (never attached) and found by a pin in a private bpffs, so a concurrent
-- run's programs of the same name are never candidates.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"
local bpffs = require "spec.helpers.bpffs"
local priv = require("spec.helpers.priv").bind(_ENV)
local E = bpfmap.errno
local W = bpfmap.BpfMapWrite.new

local FIXTURE = "build/fixtures/bpfmapt_scn.bpf.o"
local THIS_FILE = "scenario_more_spec%.lua"

local exists = require("spec.helpers.sync").exists

-- A fresh path in /tmp that does not exist yet.
local function fresh_path()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- The fixture loaded (not attached) by this process; returns the Object
-- and its .bss MapData.
local function load_fixture()
  local obj = assert(bpfmap.Object.open(FIXTURE))
  assert(obj:load())
  return obj, assert(obj:map(".bss"))
end

describe("scenario.run's definition, checked up front", function()
  it("raises at the caller's line, not inside scenario.lua", function()
    local ok, err = pcall(scenario.run, { name = "x", stepz = {} })
    assert.is_false(ok)
    -- pcall calls run directly: level 2 is pcall itself, with no position
    assert.equals("scenario: unknown field 'stepz' in the definition", err)
    local function call_it() scenario.run({ name = "x", steps = { { name = "s", run = print, capture = true } } }) end
    ok, err = pcall(call_it)
    assert.is_false(ok)
    assert.matches("^[^\n]*" .. THIS_FILE .. ":%d+: scenario: step 's': env and capture are for command steps$", err)
    assert.not_matches("scenario%.lua", err)
  end)

  it("refuses every malformed part before starting any child", function()
    local flag = fresh_path()
    local touch = { name = "child", command = { "sh", "-c", "touch " .. flag }, wait_for_writes = true }
    local cases = {
      { { load = { { object = FIXTURE, open_opts = { nme = "x" } } } },
        "scenario: unknown field 'nme' in load[1].open_opts" },
      { { load = { { object = FIXTURE, open_opts = { name = 7 } } } },
        "scenario: load[1].open_opts.name must be a string, got number" },
      { { load = { { object = FIXTURE, open_opts = "x" } } },
        "scenario: load[1].open_opts must be a table, got string" },
      { { write_opts = { timeout = 3 } }, "scenario: write_opts.timeout: give write_timeout instead" },
      { { write_opts = { report = false } }, "scenario: write_opts.report: the scenario keeps the write report" },
      { { write_opts = { atomic = "yes" } }, "scenario: write_opts.atomic must be a boolean, got string" },
      { { write_opts = { map = "x" } }, "scenario: write_opts.map must be a MapData or a map id, got x" },
      { { write_opts = { maps = { 1, -2 } } }, "scenario: write_opts.maps[2] must be a MapData or a map id, got -2" },
      { { write_opts = { prog = 1.5 } }, "scenario: write_opts.prog must be a program name or id, got 1.5" },
      { { write_opts = { interval = 0 } }, "scenario: write_opts.interval must be a positive number of seconds, got 0" },
      { { write_opts = { tmeout = 1 } }, "scenario: unknown field 'tmeout' in write_opts" },
      { { load = { { object = FIXTURE } }, find = { prog = "p" } },
        "scenario: load and find cannot be combined: a scenario drives the programs it loads, or one it finds" },
      { { find = {} }, "scenario: find needs exactly one of prog (a program name or id) and pin (a pinned map's path)" },
      { { find = { prog = "p", pin = "/tmp/x" } },
        "scenario: find needs exactly one of prog (a program name or id) and pin (a pinned map's path)" },
      { { find = { pin = "" } }, "scenario: find.pin must be a path, got " },
      { { steps = { { name = "c", command = { "true" }, env = { N = true } } } },
        "scenario: step 'c': env.N must be a string or an integer, got boolean" },
      { { steps = { { name = "c", command = { "true" }, env = { [1] = "x" } } } },
        "scenario: step 'c': env name 1 must be a non-empty string without '=' or NUL" },
      { { steps = { { name = "c", command = { "true" }, env = { ["A=B"] = "x" } } } },
        "scenario: step 'c': env name A=B must be a non-empty string without '=' or NUL" },
      { { steps = { { name = "c", command = { "true" }, capture = "no" } } },
        "scenario: step 'c': capture must be a boolean, got no" },
    }
    for _, c in ipairs(cases) do
      local def = c[1]
      def.name = "malformed"
      if not def.steps then def.steps = { touch } end
      assert.has_error(function() scenario.run(def) end, c[2])
    end
    bpfmap.sleep(0.3)
    assert.is_false(exists(flag), "a child ran although the definition was refused")
    -- what is allowed: any name without '=' or NUL, strings and integers
    local result = scenario.run { name = "env", steps = { { name = "c", command = { "sh", "-c",
      "echo \"$lazy $N\"" }, env = { lazy = "zz", N = 7 }, capture = true } } }
    assert(result.ok, result.error)
    assert.equals("zz 7\n", result.steps[1].stdout)
  end)
end)

describe("scenario.wait_until", function()
  it("names what it got instead of a MapData", function()
    local sig <close> = assert(bpfmap.Signal.new())
    assert.has_error(function() scenario.wait_until(sig, "go", 1, 1) end,
      "bad argument #1 to 'wait_until' (a MapData or a function, got bpfmap.Signal)")
    assert.has_error(function() scenario.wait_until(io.stdout, "go", 1, 1) end,
      "bad argument #1 to 'wait_until' (a MapData or a function, got FILE*)")
  end)
end)

priv.describe("scenario.run: a failure stops the run #priv", function()
  it("after failed writes only what waits for them runs; the rest is skipped, no command spawned", function()
    local flag = fresh_path()
    local ran = false
    local result = scenario.run {
      name = "stops after writes",
      find = { pin = "/tmp/bpfmapt_no_such_pin_dir/x" },
      writes = { W(".bss", "go", 1) },
      write_timeout = 0.2,
      steps = {
        { name = "plain", run = function() ran = true end },
        { name = "command", command = { "sh", "-c", "touch " .. flag } },
      },
    }
    assert.is_false(result.ok)
    assert.matches("^writes: from_pin /tmp/bpfmapt_no_such_pin_dir/x: No such file or directory %(gave up after 0%.2s%)$",
      result.error)
    assert.equals(E.ENOENT, result.writes_errno)
    assert.is_false(ran)
    for i = 1, 2 do
      assert.is_true(result.steps[i].skipped)
      assert.equals("not run: " .. result.error, result.steps[i].error)
    end
    assert.is_nil(result.steps[2].pid)
    assert.is_false(exists(flag))
  end)

  it("a failed step stops the children already started (SIGTERM) instead of waiting out their timeout", function()
    local result = scenario.run {
      name = "stops children",
      steps = {
        { name = "boom", run = function() error("kaput", 0) end },
        { name = "sleeper", command = { "sleep", "30" }, wait_for_writes = true },
        { name = "after", run = function() end },
      },
    }
    assert.is_false(result.ok)
    assert.equals("step 'boom': kaput", result.error)
    local sleeper = result.steps[2]
    assert.is_false(sleeper.ok)
    assert.is_not_true(sleeper.skipped)
    assert.equals(15, sleeper.status.signal)
    assert.equals("stopped (signal 15): step 'boom' failed", sleeper.error)
    assert.is_true(result.steps[3].skipped)
    assert.is_true(result.elapsed < 10, "took " .. result.elapsed)
  end)

  it("a child that ignores SIGTERM is killed", function()
    local ready = fresh_path()
    local result = scenario.run {
      name = "stubborn child",
      steps = {
        -- fails once the child has stopped listening to SIGTERM
        { name = "boom", run = function()
          assert(scenario.wait_until(function() return exists(ready) end, true, 10, 0.01))
          return false
        end },
        { name = "stubborn", command = { "sh", "-c", "trap '' TERM; touch " .. ready .. "; sleep 30" },
          wait_for_writes = true },
      },
    }
    os.remove(ready)
    assert.equals("step 'boom': returned false", result.error)
    assert.equals(9, result.steps[2].status.signal)
    assert.equals("stopped (signal 9): step 'boom' failed", result.steps[2].error)
    assert.is_true(result.elapsed < 15, "took " .. result.elapsed)
  end)
end)

priv.describe("scenario.run with find = { pin = path } #priv", function()
  local fs, obj, bss, other, other_bss
  before_each(function()
    fs = bpffs.mount()
    -- a second instance of the object: the same program and map names
    other, other_bss = load_fixture()
  end)
  after_each(function()
    for _, x in pairs({ bss, obj, other_bss, other }) do x:close() end
    bss, obj = nil, nil
    fs:cleanup()
  end)

  it("waits for the pin, writes only into the pinned program's maps, and ctx:map finds them", function()
    local pin = fs.dir .. "/scn_bss"
    -- the loader pins 1.5 s after the scenario starts; a child waiting for
    -- the writes has a 1 s timeout, which counts from the writes, not its start
    local loader <close> = assert(bpfmap.spawn({ "lua5.4", "-e", string.format([[
      local bpfmap = require "bpfmap"
      bpfmap.sleep(1.5)
      local obj = assert(bpfmap.Object.open(%q))
      assert(obj:load())
      assert(assert(obj:map(".bss")):pin(%q))
      print("pinned")
      io.stdout:flush()
      bpfmap.sleep(60)
    ]], FIXTURE, pin) }))
    local handles = {}
    local result = scenario.run {
      name = "by pin",
      find = { pin = pin },
      writes = { W(".bss", "go", 1), W(".data", "cfg.limits.max_calls", 9) },
      write_timeout = 30,
      steps = {
        { name = "child", command = { "lua5.4", "-e", "assert(require('bpfmap.scenario').wait_for_writes(30))" },
          wait_for_writes = true, timeout = 1 },
        { name = "maps", run = function(ctx)
          local a = ctx:map(".bss")
          handles[1], handles[2] = a, ctx:map(".bss")
          do local closing <close> = ctx:map(".bss") end
          handles[3] = ctx:map(".bss")
          return ctx:map(".bss"):get("go")
        end },
      },
      checks = {
        { name = "data", check = function(ctx)
          local v = ctx:map(".data"):get("cfg.limits.max_calls")
          return v == 9, "max_calls=" .. tostring(v)
        end },
      },
    }
    loader:kill()
    local st = loader:wait(10)
    assert.equals("pinned\n", st.stdout)
    assert(result.ok, tostring(result))
    assert.is_true(result.elapsed >= 1.4, "elapsed " .. result.elapsed)
    assert.is_true(result.steps[1].ok)
    assert.equals(1, result.steps[2].value)
    local pinned <close> = assert(bpfmap.MapData.from_pin(pin))
    assert.equals(pinned:id(), result.writes[1].map_id)
    assert.equals(1, pinned:get("go"))
    -- the other instance, same names, untouched
    assert.equals(0, other_bss:get("go"))
    local other_data <close> = assert(other:map(".data"))
    assert.equals(1000, other_data:get("cfg.limits.max_calls"))
    -- one handle while it is open; a new one after the caller closed it;
    -- all closed by the runner
    assert.equals(handles[1], handles[2])
    assert.are_not.equal(handles[1], handles[3])
    for _, h in ipairs(handles) do assert.equals("MapData (closed)", tostring(h)) end
  end)

  it("a waiting child's timeout still bounds its own work after the writes", function()
    obj, bss = load_fixture()
    local pin = fs.dir .. "/scn_bss"
    assert(bss:pin(pin))
    local result = scenario.run {
      name = "slow child",
      find = { pin = pin },
      writes = { W(".bss", "go", 1) },
      steps = { { name = "child", command = { "lua5.4", "-e",
        "assert(require('bpfmap.scenario').wait_for_writes(30)); require('bpfmap').sleep(30)" },
        wait_for_writes = true, timeout = 0.5 } },
    }
    assert.equals("step 'child': timed out after 0.5s (killed)", result.error)
    assert.equals(9, result.steps[1].status.signal)
    assert.is_true(result.elapsed < 10)
  end)
end)
