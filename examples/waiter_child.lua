-- The child process of examples/waiter.lua: started by the scenario before
-- anything is loaded, it blocks on the write-done descriptor it inherited
-- (BPFMAP_WRITE_DONE_FD) and only then runs its workload.
local scenario = require "bpfmap.scenario"
local monotonic = require("bpfmap.core").monotonic

local calls = math.tointeger(tonumber(arg[1] or "200"))
local t0 = monotonic()
print("child: waiting for the scenario's writes")
io.stdout:flush()
local ok, err = scenario.wait_for_writes(30)
if not ok then
  print("child: not running the workload: " .. err)
  os.exit(3)
end
print(string.format("child: writes done after %.3fs; %d calls", monotonic() - t0, calls))
for _ = 1, calls do os.clock() end
