-- make demo, part 5: a child process that waits for the write-done signal.
-- A separate "service" process loads and attaches examples/bpf/waiter.bpf.c
-- (program bpfmap_waiter) and pins its .bss in a private bpffs, but only
-- once the scenario's child is waiting. The scenario finds the program by
-- that pin (never another run's bpfmap_waiter, which has the same names),
-- waits for it to appear, and writes its `go` global; the child, blocked on
-- the inherited write-done descriptor, then runs its workload. The program
-- counts each process's os.clock() calls before and after `go`, and the
-- time of the first: the checks show the child's workload came after the
-- write. Then the same child under a write that cannot resolve: it is woken
-- with the reason instead of waiting out its own timeout.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"
local common = require "examples.common"

local OBJECT = arg[1] or "build/examples/waiter.bpf.o"
local CALLS = 200
common.ensure_tracefs()

-- per_process: u32 tgid -> struct calls { u64 after_go, before_go, first_ns; },
-- read through its BTF as a table.
local function calls_of(ctx, pid)
  local c = ctx:map("per_process"):read(string.pack("<I4", pid))
  if not c then return nil end
  return { after = c.after_go, before = c.before_go, first = c.first_ns / 1e9 }
end

-- The service: loads the program once the child says it is waiting, pins
-- the program's .bss where the scenario looks for it, and keeps the
-- program attached until killed.
local SERVICE = [[
  local bpfmap = require "bpfmap"
  local ready, object, pin = os.getenv("WAITER_READY"), os.getenv("WAITER_OBJECT"), os.getenv("WAITER_PIN")
  local deadline = bpfmap.monotonic() + 30
  while true do
    local f = io.open(ready)
    if f then f:close(); break end
    assert(bpfmap.monotonic() < deadline, "the child never said it was waiting")
    bpfmap.sleep(0.01)
  end
  local obj = assert(bpfmap.Object.open(object))
  assert(obj:load())
  assert(obj:attach())
  assert(assert(obj:map(".bss")):pin(pin))
  print("service: the child is waiting; program bpfmap_waiter loaded, attached, its .bss pinned")
  io.stdout:flush()
  while true do bpfmap.sleep(1) end
]]

local function run(pin, ready, writes, write_timeout)
  return scenario.run {
    name = "waiter",
    -- a program someone else loads: found by the pin of its .bss (the
    -- program name alone would also find another run's bpfmap_waiter);
    -- the writes are narrowed to the maps of the programs using that map
    find = { pin = pin },
    writes = writes,
    write_timeout = write_timeout,
    steps = {
      { name = "child", command = { "lua5.4", "examples/waiter_child.lua", tostring(CALLS) },
        env = { WAITER_READY = ready }, wait_for_writes = true, timeout = 30 },
    },
    checks = {
      { name = "the child was started before the writes", check = function(ctx)
        local child = ctx.steps.child
        return child.started < ctx.result.writes_done_at,
          string.format("started %.3fs before", ctx.result.writes_done_at - child.started)
      end },
      { name = "its workload came after the write", check = function(ctx)
        local c = calls_of(ctx, ctx.steps.child.pid)
        if not c then return false, "no calls from the child" end
        local lag = c.first - ctx.result.writes_done_at
        return c.before == 0 and c.after == CALLS and lag > 0,
          string.format("calls before go=%d after go=%d, first call %.6fs after the writes", c.before,
            c.after, lag)
      end },
    },
  }
end

print(string.format("waiter: a child waits for the writes to %s's `go`", OBJECT))
local dir, cleanup = common.private_bpffs()
local pin, ready = dir .. "/waiter_bss", os.tmpname()
os.remove(ready)
local service = assert(bpfmap.spawn({ "lua5.4", "-e", SERVICE },
  { env = { WAITER_READY = ready, WAITER_OBJECT = OBJECT, WAITER_PIN = pin } }))
local ok, err = pcall(function()
  local good = run(pin, ready, { bpfmap.BpfMapWrite.new(".bss", "go", 1) }, 30)
  io.write(good.steps[1].stdout or "")
  print(good)

  -- `go` misspelt: the write never resolves; the scenario fails after its
  -- write_timeout and the child hears why at once
  local bad = run(pin, ready, { bpfmap.BpfMapWrite.new(".bss", "goo", 1) }, 0.5)
  io.write(bad.steps[1].stdout or "")
  print(bad)
  assert(good.ok and not bad.ok and bad.steps[1].status.code == 3, "unexpected outcome")
end)
service:kill()
io.write(service:wait(10).stdout)
service:close()
os.remove(ready)
cleanup()
if not ok then io.stderr:write(tostring(err), "\n"); os.exit(1) end
