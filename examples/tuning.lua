-- make demo, part 4: tuning a nested field while a workload runs.
-- examples/bpf/tuning.bpf.c rate-limits one process's os.clock() calls:
-- calls beyond cfg.limits.max_calls (a struct inside a struct, in .data)
-- are throttled. The workload is a child process making CALLS calls; it
-- starts with the scenario and waits for the writes (the limit, and its own
-- pid as the target). After PAUSE_AT calls it pauses until this script has
-- raised the limit by its dot-path (a flag file says so), so the counts
-- before and after the raise are exact by construction, however slow the
-- machine: 50 allowed and 30 throttled at the raise, then 120 and 180.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"
local common = require "examples.common"

local OBJECT = arg[1] or "build/examples/tuning.bpf.o"
local CALLS, PAUSE_AT, FIRST, RAISED = 300, 80, 50, 120
common.ensure_tracefs()

-- tn_counts' value is a `struct tn_counts`: read through BTF, { allowed =, throttled = }.
local function counts(ctx)
  return assert(ctx:map("tn_counts"):read())
end

-- The flag the raise step creates; a fresh path, removed at the end.
local RAISED_FLAG = os.tmpname()
os.remove(RAISED_FLAG)

local WORKLOAD = string.format([[
  local bpfmap = require "bpfmap"
  assert(require("bpfmap.scenario").wait_for_writes(30))
  for _ = 1, %d do os.clock() end
  local deadline = bpfmap.monotonic() + 30
  while true do
    local f = io.open(os.getenv("TUNING_RAISED"))
    if f then f:close(); break end
    assert(bpfmap.monotonic() < deadline, "the limit was never raised")
    bpfmap.sleep(0.005)
  end
  for _ = %d, %d do os.clock() end
]], PAUSE_AT, PAUSE_AT + 1, CALLS)

print(string.format("tuning: %s throttles a workload's os.clock() calls beyond cfg.limits.max_calls", OBJECT))
local result = scenario.run {
  name = "tuning",
  load = { { object = OBJECT } },
  -- a function: the workload's pid is known once it has started
  writes = function(ctx)
    return {
      bpfmap.BpfMapWrite.new(".bss", "target_tgid", ctx.steps.workload.pid),
      bpfmap.BpfMapWrite.new(".data", "cfg.limits.max_calls", FIRST),
    }
  end,
  steps = {
    -- the steps before "workload" run while the child is at work
    { name = "the first limit bites", run = function(ctx)
      local ok, c = scenario.wait_until(function() return counts(ctx) end,
        function(c) return c.allowed + c.throttled == PAUSE_AT end, 30, 0.005)
      if not ok then return nil, c end
      print(string.format("  workload paused after %d calls: allowed=%d throttled=%d", PAUSE_AT, c.allowed,
        c.throttled))
      return c
    end },
    { name = "raise the limit", run = function(ctx)
      local r = assert(bpfmap.BpfMapWrite.new(".data", "cfg.limits.max_calls", RAISED)
        :apply({ map = ctx:map(".data") }))
      print(string.format("  %s in %s (offset %d, %s): %d -> %d, while the workload runs", r[1].field,
        r[1].map, r[1].offset, r[1].type, r[1].before, r[1].after))
      local at = counts(ctx)
      assert(io.open(RAISED_FLAG, "w")):close()
      return at
    end },
    { name = "workload", command = { "lua5.4", "-e", WORKLOAD }, wait_for_writes = true, timeout = 30,
      env = { TUNING_RAISED = RAISED_FLAG } },
  },
  checks = {
    { name = "the first limit held", check = function(ctx)
      local c = ctx.steps["the first limit bites"].value
      return c.allowed == FIRST and c.throttled == PAUSE_AT - FIRST,
        string.format("allowed=%d throttled=%d before the raise", c.allowed, c.throttled)
    end },
    { name = "the raised limit took effect while it ran", check = function(ctx)
      local at, c = ctx.steps["raise the limit"].value, counts(ctx)
      return c.allowed == RAISED and c.throttled == CALLS - RAISED and at.allowed + at.throttled == PAUSE_AT,
        string.format("allowed=%d throttled=%d of %d calls (%d made at the raise)", c.allowed, c.throttled,
          CALLS, at.allowed + at.throttled)
    end },
  },
}
os.remove(RAISED_FLAG)
print(result)
if not result.ok then os.exit(1) end
