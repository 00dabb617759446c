-- make demo, part 4: tuning a nested field while a workload runs.
-- examples/bpf/tuning.bpf.c rate-limits one process's os.clock() calls:
-- calls beyond cfg.limits.max_calls (a struct inside a struct, in .data)
-- are throttled. The workload is a child process making CALLS calls, 2 ms
-- apart; it starts with the scenario and waits for the writes (the limit,
-- and its own pid as the target). Meanwhile this script watches the counts,
-- raises the limit by its dot-path once the first limit bites, and sees
-- the effect in the tn_counts map.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"
local common = require "examples.common"

local OBJECT = arg[1] or "build/examples/tuning.bpf.o"
local CALLS, FIRST, RAISED = 300, 50, 120
common.ensure_tracefs()

-- tn_counts' value: struct tn_counts { u64 allowed, throttled; }
local function counts(ctx)
  local allowed, throttled = string.unpack("<I8I8", assert(ctx:map("tn_counts"):lookup(string.pack("<I4", 0))))
  return { allowed = allowed, throttled = throttled }
end

local WORKLOAD = string.format([[
  local scenario = require "bpfmap.scenario"
  assert(scenario.wait_for_writes(30))
  local sleep = require("bpfmap.core").sleep
  for _ = 1, %d do os.clock(); sleep(0.002) end
]], CALLS)

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
        function(c) return c.allowed == FIRST and c.throttled >= 10 end, 10, 0.005)
      if not ok then return nil, c end
      print(string.format("  workload running: allowed=%d throttled=%d", c.allowed, c.throttled))
      return c
    end },
    { name = "raise the limit", run = function(ctx)
      local r = assert(bpfmap.BpfMapWrite.new(".data", "cfg.limits.max_calls", RAISED)
        :apply({ map = ctx:map(".data") }))
      print(string.format("  %s in %s (offset %d, %s): %d -> %d, while the workload runs", r[1].field,
        r[1].map, r[1].offset, r[1].type, r[1].before, r[1].after))
      return counts(ctx)
    end },
    { name = "workload", command = { "lua5.4", "-e", WORKLOAD }, wait_for_writes = true, timeout = 30 },
  },
  checks = {
    { name = "the first limit held", check = function(ctx)
      local c = ctx.steps["the first limit bites"].value
      return c.allowed == FIRST, string.format("allowed=%d (throttled=%d) before the raise", c.allowed, c.throttled)
    end },
    { name = "the raised limit took effect while it ran", check = function(ctx)
      local at, c = ctx.steps["raise the limit"].value, counts(ctx)
      return c.allowed == RAISED and c.allowed + c.throttled == CALLS and at.allowed + at.throttled < CALLS,
        string.format("allowed=%d throttled=%d of %d calls (%d made at the raise)", c.allowed, c.throttled,
          CALLS, at.allowed + at.throttled)
    end },
  },
}
print(result)
if not result.ok then os.exit(1) end
