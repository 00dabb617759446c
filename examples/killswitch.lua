-- make demo, part 3: a kill switch, as a scenario.
-- examples/bpf/killswitch.bpf.c counts this process's os.clock() calls
-- (each is one clock_gettime syscall, seen on a tracepoint). Its `crash`
-- global is a kill switch: once a BpfMapWrite sets it, the program reports
-- every call as an error, with crash's value as the code, in its ks_report
-- map, which the scenario's checks read. Run twice: switch off, then on.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"
local common = require "examples.common"

local OBJECT = arg[1] or "build/examples/killswitch.bpf.o"
local CALLS = 100
common.ensure_tracefs()

-- ks_report's value is a `struct ks_report`, so its BTF reads it as a
-- table: { calls =, errors =, first_error_call =, code =, unused = }.
local function report(ctx)
  return assert(ctx:map("ks_report"):read())
end

local function kill_switch(crash)
  return scenario.run {
    name = "kill switch " .. (crash == 0 and "off" or "on"),
    -- bpfmap loads and attaches the object, and narrows the writes to its
    -- maps: other programs on this machine may have a `crash` of their own
    load = { { object = OBJECT } },
    writes = {
      bpfmap.BpfMapWrite.new(".bss", "target_tgid", common.pid()),
      bpfmap.BpfMapWrite.new(".bss", "crash", crash),
    },
    steps = {
      { name = CALLS .. " calls", wait_for_writes = true, run = function()
        for _ = 1, CALLS do os.clock() end
      end },
    },
    checks = {
      { name = "every call counted", check = function(ctx)
        local r = report(ctx)
        return r.calls == CALLS, string.format("calls=%d", r.calls)
      end },
      { name = crash == 0 and "no error reported" or "errors reported with the code", check = function(ctx)
        local r = report(ctx)
        local detail = string.format("errors=%d code=%d first at call %d", r.errors, r.code, r.first_error_call)
        if crash == 0 then return r.errors == 0, detail end
        return r.errors == CALLS and r.code == crash and r.first_error_call == 1, detail
      end },
    },
  }
end

print(string.format("kill switch: %s counts the os.clock() calls of pid %d", OBJECT, common.pid()))
local failed = false
for _, crash in ipairs({ 0, 7 }) do
  local result = kill_switch(crash)
  print(result)
  failed = failed or not result.ok
end
if failed then os.exit(1) end
