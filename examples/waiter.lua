-- make demo, part 5: a child process that waits for the write-done signal.
-- A separate "service" process loads and attaches examples/bpf/waiter.bpf.c
-- (program bpfmap_waiter) 0.3 s from now. Meanwhile the scenario starts
-- examples/waiter_child.lua, which blocks on the inherited write-done
-- descriptor, and waits for the program to appear to write its `go`
-- global. The program counts each process's os.clock() calls before and
-- after `go`, and the time of the first: the checks show the child's
-- workload came after the write. Then the same child under a write that
-- cannot resolve: it is woken with the reason instead of waiting out its
-- own timeout.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"
local common = require "examples.common"

local OBJECT = arg[1] or "build/examples/waiter.bpf.o"
local CALLS = 200
common.ensure_tracefs()

-- per_process: u32 tgid -> struct calls { u64 after_go, before_go, first_ns; }
local function calls_of(ctx, pid)
  local v = ctx:map("per_process"):lookup(string.pack("<I4", pid))
  if not v then return nil end
  local after, before, first_ns = string.unpack("<I8I8I8", v)
  return { after = after, before = before, first = first_ns / 1e9 }
end

-- The service: loads the program late and keeps it attached until killed.
local SERVICE = string.format([[
  local bpfmap = require "bpfmap"
  require("bpfmap.core").sleep(0.3)
  local obj = assert(bpfmap.Object.open(%q))
  assert(obj:load())
  assert(obj:attach())
  print("service: program bpfmap_waiter loaded and attached")
  io.stdout:flush()
  while true do require("bpfmap.core").sleep(1) end
]], OBJECT)

local function run(writes, write_timeout)
  return scenario.run {
    name = "waiter",
    -- a program someone else loads: found by name, the writes narrowed to its maps
    find = { prog = "bpfmap_waiter" },
    writes = writes,
    write_timeout = write_timeout,
    steps = {
      { name = "child", command = { "lua5.4", "examples/waiter_child.lua", tostring(CALLS) },
        wait_for_writes = true, timeout = 30 },
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
local service = assert(bpfmap.spawn({ "lua5.4", "-e", SERVICE }))
local ok, err = pcall(function()
  local good = run({ bpfmap.BpfMapWrite.new(".bss", "go", 1) }, 10)
  io.write(good.steps[1].stdout or "")
  print(good)

  -- `go` misspelt: the write never resolves; the scenario fails after its
  -- write_timeout and the child hears why at once
  local bad = run({ bpfmap.BpfMapWrite.new(".bss", "goo", 1) }, 0.5)
  io.write(bad.steps[1].stdout or "")
  print(bad)
  assert(good.ok and not bad.ok and bad.steps[1].status.code == 3, "unexpected outcome")
end)
service:kill()
io.write(service:wait(10).stdout)
service:close()
if not ok then io.stderr:write(tostring(err), "\n"); os.exit(1) end
