-- bench/peers/bpfmap_elems.lua: bpfmap's element operations as a peer, in
-- a process of its own like every other implementation, run with lua5.4:
--
--   lua5.4 bpfmap_elems.lua update|lookup PIN ITERS RUNS
--
-- The map is opened with MapData.from_pin; keys (u32, cycling over
-- 0..1023) and values (u64) are made once with string.pack, as a user's
-- loop would. Output: one line "bpfmap_<mode>_ns <ns per op>" per timed
-- run, after one untimed warm-up run. Clock: os.clock(), the process's CPU
-- time (user + system: waiting for a shared CPU does not count).

local bpfmap = require "bpfmap"
local now = os.clock

local mode, pin, iters, runs = arg[1], arg[2], math.tointeger(tonumber(arg[3] or "")),
  math.tointeger(tonumber(arg[4] or ""))
if (mode ~= "update" and mode ~= "lookup") or not pin or not iters or not runs then
  io.stderr:write("usage: lua5.4 bpfmap_elems.lua update|lookup PIN ITERS RUNS\n")
  os.exit(2)
end

local KEYS = 1024
local m = assert(bpfmap.MapData.from_pin(pin))
local keys, vals = {}, {}
for i = 0, KEYS - 1 do
  keys[i + 1] = string.pack("<I4", i)
  vals[i + 1] = string.pack("<I8", i)
end

local run
if mode == "update" then
  run = function(n)
    local t0 = now()
    for i = 0, n - 1 do
      local j = (i & (KEYS - 1)) + 1
      if not m:update(keys[j], vals[j]) then error("update failed") end
    end
    return (now() - t0) / n * 1e9
  end
else
  run = function(n)
    local t0 = now()
    for i = 0, n - 1 do
      if not m:lookup(keys[(i & (KEYS - 1)) + 1]) then error("lookup: missing key") end
    end
    return (now() - t0) / n * 1e9
  end
end

print(string.format("# bpfmap %s %s (map %d) iters %d runs %d", mode, pin, m:id(), iters, runs))
run(iters)
for _ = 1, runs do
  collectgarbage()
  io.write(string.format("bpfmap_%s_ns %.4f\n", mode, run(iters)))
end
m:close()
