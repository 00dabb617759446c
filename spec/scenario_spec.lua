-- bpfmap.scenario: declared scenarios over real programs on the live kernel.
-- Programs are loaded with bpftool (the independent witness) into a private
-- bpffs and found by id, so other programs' maps are never candidates; the
-- `load` cases load with bpfmap.Object where this build has it.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"
local bpfobj = require "spec.helpers.bpfobj"
local bpffs = require "spec.helpers.bpffs"
local priv = require("spec.helpers.priv").bind(_ENV)
local sync = require "spec.helpers.sync"
local core = require "bpfmap.core"
local E = bpfmap.errno
local W = bpfmap.BpfMapWrite.new

-- Every load here uses a copy of the fixture whose program has a name no
-- other run of the suite on this kernel has: one test finds the program by
-- name, and a concurrent run loads the same fixture in its before_each. 15
-- bytes, all the kernel keeps of a program name.
local PROG = "bpfmapt_sp" .. sync.tag(5)
local built
local function fixture()
  built = built or bpfobj.compile("spec/fixtures/bpfmapt_scn.bpf.c", { PROG_NAME = PROG })
  return built.path
end
teardown(function() if built then built:cleanup() end end)

-- The fixture loaded by bpftool, with the offsets of its .bss variables.
local function load_fixture()
  local obj = bpfobj.load(fixture())
  local bss = obj:map(".bss")
  obj.prog_id = obj.progs[1].id
  obj.bss_id = bss.id
  obj.off = bpfobj.var_offsets(bpfobj.map_show(bss.id).btf_id, ".bss")
  return obj
end

local function bss_u32(obj, var)
  return (string.unpack("<I4", bpfobj.map_bytes(obj.bss_id), obj.off[var] + 1))
end

-- A child Lua script: wait for the writes, then print `go` as it reads it.
-- Its wait is bounded by $T, 120 s unless set: the writes come when this
-- process has applied them, which under valgrind takes seconds.
local function reader_script(obj)
  return string.format([[
    local bpfmap = require "bpfmap"
    local scenario = require "bpfmap.scenario"
    local t0 = require("bpfmap.core").monotonic()
    local ok, msg, errno = scenario.wait_for_writes(tonumber(os.getenv("T") or "120"))
    local waited = require("bpfmap.core").monotonic() - t0
    if not ok then
      io.stderr:write(msg, " [errno ", tostring(errno), "]\n")
      print(string.format("woken with failure after %%.3fs", waited))
      os.exit(3)
    end
    local m = assert(bpfmap.MapData.from_id(%d))
    local v = assert(m:lookup(string.pack("<I4", 0)))
    print(string.format("go=%%d after %%.3fs", string.unpack("<I4", v, %d + 1), waited))
  ]], obj.bss_id, obj.off.go)
end

priv.describe("scenario.run #priv", function()
  local obj
  before_each(function() obj = load_fixture() end)
  after_each(function() if obj then obj:unload() end end)

  it("applies the writes, then raises the signal: waiting steps see the written value", function()
    local seen_in_step
    local result = scenario.run {
      name = "ordering",
      find = { prog = obj.prog_id },
      writes = { W(".bss", "go", 1), W(".data", "cfg.limits.max_calls", 7) },
      steps = {
        { name = "child", command = { "lua5.4", "-e", reader_script(obj) }, wait_for_writes = true },
        { name = "in process", wait_for_writes = true, run = function(ctx)
          seen_in_step = string.unpack("<I4", ctx:map(".bss"):lookup(string.pack("<I4", 0)), obj.off.go + 1)
          return "read"
        end },
      },
    }
    assert(result.ok, result.error)
    assert.is_nil(result.error)
    assert.equals(1, seen_in_step)
    assert.equals("read", result.steps[2].value)
    -- the child was started before the writes and woke after them
    local child = result.steps[1]
    assert.is_true(child.ok, child.error)
    assert.matches("^go=1 after [%d.]+s\n$", child.stdout)
    assert.is_true(child.started < result.writes_done_at)
    assert.equals(0, child.status.code)
    -- the write report, narrowed to the found program's maps
    assert.equals(2, #result.writes)
    assert.equals(obj.bss_id, result.writes[1].map_id)
    assert.same({ "go", 0, 1 }, { result.writes[1].field, result.writes[1].before, result.writes[1].after })
    assert.same({ "cfg.limits.max_calls", 1000, 7 },
      { result.writes[2].field, result.writes[2].before, result.writes[2].after })
    assert.equals(1, bss_u32(obj, "go"))
  end)

  it("a waiting child runs alongside the steps listed before it; writes may be a function of ctx", function()
    local dir <close> = sync.tempdir()
    local flag, ack = dir:file("flag"), dir:file("ack")
    local acked_at
    local result = scenario.run {
      name = "alongside",
      find = { prog = obj.prog_id },
      writes = function(ctx) return { W(".bss", "target_tgid", ctx.steps.child.pid) } end,
      steps = {
        { name = "watch", run = function()
          local ok, text, code = scenario.wait_until(function()
            local f = io.open(flag, "r")
            local text = f and f:read("a")
            if f then f:close() end
            return text
          end, "working\n", 60, 0.01)
          if not ok then return nil, text, code end
          -- the child finishes only once it sees this: the handshake, not
          -- timing, shows it was still at work when "watch" saw its file
          acked_at = core.monotonic()
          assert(io.open(ack, "w")):close()
          return text
        end },
        { name = "child", wait_for_writes = true, command = { "lua5.4", "-e", string.format([[
          local core = require("bpfmap.core")
          assert(require("bpfmap.scenario").wait_for_writes(120))
          local f = assert(io.open(%q, "w")); f:write("working\n"); f:close()
          local deadline = core.monotonic() + 120
          while true do
            local a = io.open(%q, "r")
            if a then a:close(); break end
            if core.monotonic() > deadline then error("no ack from watch") end
            core.sleep(0.01)
          end
          print(string.format("acked at %%.6f", core.monotonic()))
        ]], flag, ack) } },
      },
    }
    assert(result.ok, tostring(result))
    assert.equals("working\n", result.steps[1].value)
    assert.equals(result.steps[2].pid, result.writes[1].after)
    assert.equals(result.steps[2].pid, bss_u32(obj, "target_tgid"))
    -- "watch" saw the child's file while the child was still at work: the
    -- child, started before the writes and so before "watch", was waiting
    -- for the acknowledgement, and saw it after "watch" made it
    local child_saw_ack = tonumber(result.steps[2].stdout:match("^acked at ([%d.]+)\n$"))
    assert.is_number(child_saw_ack, result.steps[2].stdout)
    assert.is_true(result.steps[2].started < result.steps[1].started)
    assert.is_true(acked_at <= child_saw_ack)
  end)

  it("waits for a program loaded after the scenario started, within write_timeout", function()
    obj:unload()
    obj = nil
    local fs <close> = bpffs.mount()
    local dir <close> = sync.tempdir()
    local started = dir:file("started")
    -- The loader loads only once the scenario has begun its writes (their
    -- function creates the file); it gives up after about 60 s.
    local loader <close> = assert(bpfmap.spawn({ "sh", "-c", string.format(
      "i=0; while [ ! -e %s ]; do i=$((i+1)); [ $i -lt 6000 ] || exit 9; sleep 0.01; done; "
      .. "bpftool prog loadall %s %s/progs pinmaps %s/maps",
      bpffs.quote(started), bpffs.quote(fixture()), fs.dir, fs.dir) }))
    local function loaded()
      for _, p in ipairs(assert(bpfmap.list_programs())) do
        if p.name == PROG then return true end
      end
      return false
    end
    local loaded_when_writes_began
    local result = scenario.run {
      name = "late program",
      find = { prog = PROG },
      writes = function()
        loaded_when_writes_began = loaded()
        assert(io.open(started, "w")):close()
        return { W(".bss", "go", 1) }
      end,
      write_timeout = 60,
    }
    local st = loader:wait(60)
    assert.equals(0, st.code, st.stderr)
    assert(result.ok, result.error)
    assert.is_false(loaded_when_writes_began)
    local pinned
    for name in bpffs.sh("ls " .. fs.dir .. "/maps"):gmatch("%S+") do
      local show = bpfobj.map_show_pinned(fs.dir .. "/maps/" .. name)
      if show.name:match("%.bss$") then pinned = show end
    end
    assert.equals(pinned.id, result.writes[1].map_id)
    assert.equals(1, result.writes[1].after)
    fs:cleanup()
    bpfobj.wait_gone({ [pinned.id] = true }, "late-loaded map still present")
  end)

  it("a failed write fails the scenario and wakes a waiting child with the reason", function()
    local ran = false
    local result = scenario.run {
      name = "bad field",
      find = { prog = obj.prog_id },
      writes = { W(".bss", "go", 1), W(".bss", "no_such_field", 1) },
      write_timeout = 0.3,
      steps = {
        { name = "child", command = { "lua5.4", "-e", reader_script(obj) }, wait_for_writes = true },
        { name = "after", wait_for_writes = true, run = function() ran = true end },
      },
      checks = { { name = "never", check = function() return true end } },
    }
    assert.is_false(result.ok)
    assert.matches("^writes: write %.bss no_such_field=1: .*no_such_field.*gave up after 0%.3s", result.error)
    assert.equals(E.ENOENT, result.writes_errno)
    assert.is_nil(result.writes)
    -- all or nothing: `go` was not written either
    assert.equals(0, bss_u32(obj, "go"))
    -- the child was woken with the reason (ECANCELED), not by its own
    -- 120 s timeout (ETIMEDOUT)
    local child = result.steps[1]
    assert.is_false(child.ok)
    assert.equals(3, child.status.code)
    assert.matches("^woken with failure after [%d.]+s\n$", child.stdout)
    assert.matches("^write%-done signal failed: writes: write %.bss no_such_field=1: .*%[errno "
      .. E.ECANCELED .. "%]\n$", child.stderr)
    assert.matches("^exited with code 3: write%-done signal failed: writes: write %.bss no_such_field=1", child.error)
    -- the in-process step is failed with the reason without running
    assert.is_false(ran)
    assert.is_true(result.steps[2].skipped)
    assert.same({ name = "never", ok = false, skipped = true, detail = "not run: the scenario already failed" },
      result.checks[1])
  end)

  it("a write the field cannot hold fails at once (ERANGE), and the in-process waiter gets the reason", function()
    local ran = false
    local result = scenario.run {
      name = "too big",
      find = { prog = obj.prog_id },
      writes = { W(".bss", "go", 1 << 40) },
      write_timeout = 60,
      steps = { { name = "waits", wait_for_writes = true, run = function() ran = true end } },
    }
    assert.is_false(result.ok)
    assert.equals(E.ERANGE, result.writes_errno)
    assert.matches("^writes: write %.bss go=1099511627776: .*out of range", result.error)
    assert.is_false(ran)
    assert.is_false(result.steps[1].ok)
    assert.matches("^write%-done signal failed: writes: write %.bss go=1099511627776", result.steps[1].error)
    -- not retried: a retry would have lasted the whole write_timeout
    assert.is_true(result.elapsed < 60, "elapsed " .. result.elapsed)
  end)

  it("a child's wait that times out fails its step; a command over its timeout is killed", function()
    local result = scenario.run {
      name = "timeouts",
      find = { prog = obj.prog_id },
      -- the writes (which never resolve) begin only once the child has
      -- timed out and exited, so it cannot be woken with their failure
      writes = function(ctx)
        sync.wait_zombie(ctx.steps.impatient.pid, "impatient child exited")
        return { W(".bss", "not_yet", 1) }
      end,
      write_timeout = 0.2,
      steps = {
        { name = "impatient", command = { "lua5.4", "-e", reader_script(obj) }, wait_for_writes = true,
          env = { T = "0.2" } },
      },
    }
    assert.is_false(result.ok)
    local step = result.steps[1]
    assert.equals(3, step.status.code)
    assert.matches("^wait for write%-done signal: timed out after 0%.2s %[errno " .. E.ETIMEDOUT .. "%]\n$",
      step.stderr)

    result = scenario.run {
      name = "slow command",
      steps = {
        { name = "sleeper", command = { "sleep", "30" }, timeout = 0.3 },
        { name = "next", run = function() end },
      },
    }
    assert.is_false(result.ok)
    assert.equals("step 'sleeper': timed out after 0.3s (killed)", result.error)
    assert.equals(9, result.steps[1].status.signal)
    -- killed, not waited for: `sleep 30` would have taken 30 s
    assert.is_true(result.steps[1].elapsed < 30, "elapsed " .. result.steps[1].elapsed)
    assert.same({ name = "next", kind = "run", wait_for_writes = false, ok = false, skipped = true,
      error = "not run: step 'sleeper' failed" }, result.steps[2])
  end)

  it("a step over its timeout, a raising step and a failing check fail the scenario", function()
    local result = scenario.run {
      name = "slow step",
      steps = { { name = "slow", timeout = 0.05, run = function() core.sleep(0.2) end } },
    }
    assert.is_false(result.ok)
    local took = result.error:match("^step 'slow': took (%d+%.%d%d%d)s, over its timeout of 0%.05s$")
    assert.is_string(took, result.error)
    assert.is_true(tonumber(took) >= 0.2, result.error)

    result = scenario.run {
      name = "raising",
      steps = {
        { name = "boom", run = function() error("kaput", 0) end },
      },
    }
    assert.equals("step 'boom': kaput", result.error)

    result = scenario.run {
      name = "returns nil, msg",
      steps = { { name = "refused", run = function() return nil, "refused by kernel", 1 end } },
    }
    assert.equals("step 'refused': refused by kernel", result.error)

    result = scenario.run {
      name = "checks",
      checks = {
        { name = "fine", check = function() return true, "all good" end },
        { name = "wrong", check = function() return false, "calls = 3, want 5" end },
        { name = "raises", check = function() error("oops", 0) end },
      },
    }
    assert.is_false(result.ok)
    assert.equals("check 'wrong': calls = 3, want 5", result.error)
    assert.same({
      { name = "fine", ok = true, detail = "all good" },
      { name = "wrong", ok = false, detail = "calls = 3, want 5" },
      { name = "raises", ok = false, detail = "oops" },
    }, result.checks)
  end)

  it("the result fits a busted it(): fields and a printable summary", function()
    local result = scenario.run {
      name = "shape",
      find = { prog = obj.prog_id },
      writes = { W(".bss", "go", 1) },
      steps = {
        { name = "echo", command = { "sh", "-c", "echo hello" } },
        { name = "lua", run = function(ctx) return ctx.writes[1].after end },
      },
      checks = { { name = "go set", check = function(ctx)
        local v = ctx:map(".bss"):lookup(string.pack("<I4", 0))
        local go = string.unpack("<I4", v, obj.off.go + 1)
        return go == 1, "go = " .. go
      end } },
    }
    assert(result.ok, result.error)
    assert.equals("shape", result.name)
    assert.equals("number", type(result.elapsed))
    assert.equals("hello\n", result.steps[1].stdout)
    assert.equals("command", result.steps[1].kind)
    assert.equals(1, result.steps[2].value)
    assert.same({ name = "go set", ok = true, detail = "go = 1" }, result.checks[1])
    local text = tostring(result)
    assert.matches("^scenario shape: ok %([%d.]+s%)\n", text)
    assert.matches("\n  write go in bpfmapt_%.bss: 0 %-> 1\n", text)
    assert.matches("\n  step echo: ok %([%d.]+s%)\n", text)
    assert.matches("\n  check go set: ok: go = 1$", text)
  end)

  it("closes what it opened: no descriptor is left behind", function()
    local proc = require "spec.helpers.proc"
    -- the BTF cache holds a descriptor per BTF by design; empty it around
    bpfmap.clear_cache()
    local before = proc.fd_count()
    for _ = 1, 3 do
      local r = scenario.run {
        name = "fds", find = { prog = obj.prog_id }, writes = { W(".bss", "go", 1) },
        steps = { { name = "c", command = { "true" }, wait_for_writes = true } },
        checks = { { name = "m", check = function(ctx) return ctx:map(".bss") ~= nil end } },
      }
      assert(r.ok, r.error)
    end
    bpfmap.clear_cache()
    assert.equals(before, proc.fd_count())
  end)

  it("ctx:map names the candidates when none or several match", function()
    local result = scenario.run {
      name = "bad map", find = { prog = obj.prog_id },
      steps = { { name = "s", run = function(ctx) return ctx:map(".nope") end } },
    }
    assert.matches("^step 's': .*ctx:map%(\"%.nope\"%): 0 maps of program %d+ match %(its maps: .*bpfmapt_%.bss",
      result.error)
  end)
end)

priv.describe("scenario.run with load (bpfmap.Object) #priv", function()
  local PID = require("spec.helpers.proc").PID
  -- attaching the fixture's tracepoint needs tracefs (mounted, never unmounted)
  setup(function() require("spec.helpers.tracefs").ensure() end)

  local function bss_fields(m)
    local off = bpfobj.var_offsets(m:info().btf_id, ".bss")
    local v = assert(m:lookup(string.pack("<I4", 0)))
    local function u(name, fmt) return (string.unpack(fmt, v, off[name] + 1)) end
    return { go = u("go", "<I4"), calls = u("calls", "<I8"), before = u("calls_before_go", "<I8") }
  end

  it("loads and attaches its own object, narrows the writes to its maps, and unloads it after", function()
    -- a second instance of the same object: the same map names, never written
    local other <close> = load_fixture()
    local prog_id
    local result = scenario.run {
      name = "load",
      load = { { object = fixture() } },
      writes = { W(".bss", "target_tgid", PID), W(".bss", "go", 1), W(".data", "cfg.limits.max_calls", 3) },
      steps = { { name = "workload", wait_for_writes = true, run = function(ctx)
        prog_id = ctx.objects[1]:program(PROG):id()
        for _ = 1, 10 do os.clock() end
      end } },
      checks = { { name = "counted up to the written limit", check = function(ctx)
        local f = bss_fields(ctx:map(".bss"))
        return f.calls == 3 and f.before == 0 and f.go == 1,
          string.format("calls=%d before=%d go=%d", f.calls, f.before, f.go)
      end } },
    }
    assert(result.ok, tostring(result))
    assert.same({ name = "counted up to the written limit", ok = true, detail = "calls=3 before=0 go=1" },
      result.checks[1])
    assert.equals(0, bss_u32(other, "go"))
    assert.equals(0, bss_u32(other, "target_tgid"))
    -- the scenario closed its object: the program is gone
    local ids = {}
    for _, p in ipairs(assert(bpfmap.list_programs())) do ids[p.id] = true end
    assert.is_nil(ids[prog_id])
  end)

  it("a load that fails fails the scenario and wakes a waiting child with the reason", function()
    local result = scenario.run {
      name = "missing object",
      load = { { object = "build/fixtures/bpfmapt_scn_missing.bpf.o" } },
      writes = { W(".bss", "go", 1) },
      steps = { { name = "child", command = { "lua5.4", "-e",
        "local ok, msg = require('bpfmap.scenario').wait_for_writes(120); io.write(msg); os.exit(ok and 0 or 5)" },
        wait_for_writes = true } },
    }
    assert.is_false(result.ok)
    assert.matches("^load: .*bpfmapt_scn_missing%.bpf%.o.*No such file or directory", result.error)
    assert.equals(5, result.steps[1].status.code)
    assert.equals("write-done signal failed: " .. result.error, result.steps[1].stdout)
  end)
end)

describe("scenario.run's definition", function()
  it("raises for a malformed definition before running anything", function()
    local cases = {
      { nil, "scenario: definition must be a table, got nil" },
      { {}, "scenario: name must be a non-empty string, got nil" },
      { { name = "x", stepz = {} }, "scenario: unknown field 'stepz' in the definition" },
      { { name = "x", writes = { 1 } }, "scenario: writes[1] must be a BpfMapWrite, got 1" },
      { { name = "x", write_timeout = -1 }, "scenario: write_timeout must be a number of seconds (0..1e9), got -1" },
      { { name = "x", find = { prog = "" } }, "scenario: find.prog must be a program name or id, got " },
      { { name = "x", load = { { path = "a" } } }, "scenario: unknown field 'path' in load[1]" },
      { { name = "x", steps = { { name = "s" } } },
        "scenario: step 's' needs exactly one of run (a function) and command (a list)" },
      { { name = "x", steps = { { name = "s", run = print, command = { "ls" } } } },
        "scenario: step 's' needs exactly one of run (a function) and command (a list)" },
      { { name = "x", steps = { { name = "s", run = print }, { name = "s", run = print } } },
        "scenario: two steps are named 's'" },
      { { name = "x", steps = { { name = "s", command = {} } } },
        "scenario: step 's': command must be a non-empty list of strings" },
      { { name = "x", steps = { { name = "s", run = print, timeout = "1" } } },
        "scenario: step 's' timeout must be a number of seconds (0..1e9), got 1" },
      { { name = "x", checks = { { name = "c" } } }, "scenario: check 'c': check must be a function" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() scenario.run(c[1]) end, c[2])
    end
  end)
end)

describe("scenario.wait_until", function()
  it("polls until the predicate holds and returns the value", function()
    local n = 0
    local ok, v = scenario.wait_until(function() n = n + 1; return n end, function(x) return x >= 5 end, 5, 0.01)
    assert.is_true(ok)
    assert.equals(5, v)
    ok, v = scenario.wait_until(function() return "ready" end, "ready", 1)
    assert.same({ true, "ready" }, { ok, v })
  end)

  it("times out with ETIMEDOUT, naming the last value", function()
    local t0 = core.monotonic()
    local ok, msg, errno = scenario.wait_until(function() return 3 end, 4, 0.2, 0.05)
    assert.is_nil(ok)
    assert.equals("wait_until: not true within 0.2s (last value 3)", msg)
    assert.equals(E.ETIMEDOUT, errno)
    assert.is_true(core.monotonic() - t0 >= 0.19)
  end)

  it("returns a getter's failure at once", function()
    local ok, msg, errno = scenario.wait_until(function() return nil, "lookup refused", E.EPERM end, 1, 10)
    assert.same({ nil, "lookup refused", E.EPERM }, { ok, msg, errno })
  end)

  it("raises for bad arguments", function()
    assert.has_error(function() scenario.wait_until(function() end, 1, -1) end,
      "bad argument to 'wait_until' (timeout must be seconds in 0..1e9, got -1)")
    assert.has_error(function() scenario.wait_until(function() end, nil, 1) end,
      "bad argument to 'wait_until' (predicate missing)")
    assert.has_error(function() scenario.wait_until(42, "x", 1, 1) end,
      "bad argument #1 to 'wait_until' (a MapData or a function, got number)")
  end)

  priv.it("polls a map field through MapData:get", function()
    local m <close> = assert(bpfmap.MapData.create(
      { type = "array", key_size = 4, value_size = 4, max_entries = 1 }, "bpfmapt_scn_wu"))
    if not m.get then
      pending("MapData:get (BTF-typed values) is not in this build")
      return
    end
    local obj <close> = load_fixture()
    local bss <close> = assert(bpfmap.MapData.from_id(obj.bss_id))
    local ok, msg = scenario.wait_until(bss, "go", 1, 0.1)
    assert.is_nil(ok)
    assert.matches("last value 0", msg)
    assert(bpfmap.BpfMapWrite.new(".bss", "go", 1):apply({ map = bss }))
    assert.same({ true, 1 }, { scenario.wait_until(bss, "go", 1, 1) })
  end)
end)

describe("scenario.wait_for_writes", function()
  it("outside a scenario's child it says so (ENOENT)", function()
    local st = assert(bpfmap.spawn({ "lua5.4", "-e",
      "print(require('bpfmap.scenario').wait_for_writes(1))" }, { env = {} })):wait(10)
    -- the variable may be set in this process only if a scenario started it
    assert.equals("nil\tBPFMAP_WRITE_DONE_FD is not set: this process was not started by a scenario "
      .. "step with wait_for_writes\t" .. E.ENOENT .. "\n", st.stdout)
  end)
end)
