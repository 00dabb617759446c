-- The child process of examples/waiter.lua: started by the scenario before
-- anything is loaded, it says it is waiting (the file WAITER_READY names,
-- if set), blocks on the write-done descriptor it inherited
-- (BPFMAP_WRITE_DONE_FD) and only then runs its workload.
local bpfmap = require "bpfmap"
local scenario = require "bpfmap.scenario"

local calls = math.tointeger(tonumber(arg[1] or "200"))
local t0 = bpfmap.monotonic()
print("child: waiting for the scenario's writes")
io.stdout:flush()
local ready = os.getenv("WAITER_READY")
if ready then assert(io.open(ready, "w")):close() end
local ok, err = scenario.wait_for_writes(30)
if not ok then
  print("child: not running the workload: " .. err)
  os.exit(3)
end
print(string.format("child: writes done after %.3fs; %d calls", bpfmap.monotonic() - t0, calls))
for _ = 1, calls do os.clock() end
