-- bench/lib.lua: what every part of the benchmark runner shares: the
-- statistics, the timing loop, number formatting and running a peer.
--
-- Every figure is the median of RUNS timed runs after one untimed warm-up
-- run, with min and max; peers print one "label value" line per timed run.

local bpffs = require "spec.helpers.bpffs"

local M = { sh = bpffs.sh, quote = bpffs.quote }

M.RUNS = 9             -- timed runs per figure (after 1 warm-up)
M.SLOW_RUNS = 5        -- for peers whose one run takes seconds (bpftool)

function M.stats(samples)
  local s = {}
  for i, v in ipairs(samples) do s[i] = v end
  table.sort(s)
  local n = #s
  local med = n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return { median = med, min = s[1], max = s[n], n = n, samples = samples }
end

-- Time fn(iters) `runs` times after one untimed warm-up; per-op cost in
-- `unit` (1e9: ns, 1e6: us). `now` is bpfmap.core.monotonic.
function M.bench(now, fn, iters, unit, runs)
  fn(iters)
  local samples = {}
  for r = 1, runs or M.RUNS do
    collectgarbage()
    local t0 = now()
    fn(iters)
    local t1 = now()
    samples[r] = (t1 - t0) / iters * unit
  end
  return M.stats(samples)
end

function M.fmt(x)
  if x == nil then return "-" end
  if x ~= 0 and math.abs(x) < 0.001 then return string.format("%.1e", x) end
  if x >= 100 then return string.format("%.0f", x) end
  if x >= 10 then return string.format("%.1f", x) end
  if x >= 1 then return string.format("%.2f", x) end
  return string.format("%.3f", x)
end

function M.line(key, st)
  print(string.format("%-40s median %10s  min %10s  max %10s", key,
    M.fmt(st.median), M.fmt(st.min), M.fmt(st.max)))
end

-- The "label value" lines of a peer's output: label, list of numbers.
local function samples_of(out)
  local samples, label = {}, nil
  for l in out:gmatch("[^\n]+") do
    local k, v = l:match("^([%a_][%w_]*) ([%d.]+)$")
    if k then label = k; samples[#samples + 1] = tonumber(v) end
  end
  return label, samples
end

-- A peer that does its own warm-up and prints `runs` timed samples.
function M.peer(cmd, runs)
  runs = runs or M.RUNS
  local out = M.sh(cmd)
  local label, samples = samples_of(out)
  if #samples ~= runs then
    error(string.format("peer printed %d samples, want %d: %s\n%s", #samples, runs, cmd, out), 0)
  end
  return M.stats(samples), label
end

-- A peer that measures one run per process (bpftool.sh): run once to warm
-- up, then `runs` times.
function M.peer_each(cmd, runs)
  runs = runs or M.SLOW_RUNS
  M.sh(cmd)
  local samples, label = {}, nil
  for r = 1, runs do
    local out = M.sh(cmd)
    local l, s = samples_of(out)
    if #s ~= 1 then error("peer printed no sample: " .. cmd .. "\n" .. out, 0) end
    label, samples[r] = l, s[1]
  end
  return M.stats(samples), label
end

-- The same figures in another unit (µs -> ns: 1e3).
function M.scaled(st, factor)
  local s = {}
  for i, v in ipairs(st.samples) do s[i] = v * factor end
  return M.stats(s)
end

-- Per-round ratios of paired samples, base[i] / samples[i] (the rate of
-- `samples` relative to `base`), as stats.
function M.paired(samples, base)
  local r = {}
  for i, v in ipairs(samples) do r[i] = base[i] / v end
  return M.stats(r)
end

-- Rate of `a` relative to `b`, both costs per op: b.median / a.median.
function M.rate_ratio(a, b)
  return b.median / a.median
end

return M
