-- Test helper: what this process holds, read from /proc, for specs that
-- show descriptors and mappings come back to where they started.
local bpffs = require "spec.helpers.bpffs"

local M = {}

M.PID = (function()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("n")
  f:close()
  return math.tointeger(pid)
end)()

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The collector runs first so that handles dropped earlier are finalised.
-- Each count is the least of three reads: io.popen's child, and for an
-- instant its pipe end and spawn stack in this process, can be caught by a
-- read, while a leak shows in every one.
local function least_of_3(read)
  collectgarbage()
  collectgarbage()
  local best
  for _ = 1, 3 do
    local n = read()
    if not best or n < best then best = n end
  end
  return best
end

--- The process's descriptors (entries of /proc/PID/fd, listed by ls).
function M.fd_count()
  return least_of_3(function()
    return math.tointeger(tonumber(trim(bpffs.sh("ls /proc/" .. M.PID .. "/fd | wc -l"))))
  end)
end

--- The text of /proc/PID/maps, read without a child process.
function M.maps_text()
  local f = assert(io.open("/proc/" .. M.PID .. "/maps", "r"))
  local text = f:read("a")
  f:close()
  return text
end

--- The process's mappings (lines of /proc/PID/maps).
function M.map_count()
  return least_of_3(function()
    local n = 0
    for _ in M.maps_text():gmatch("[^\n]+") do n = n + 1 end
    return n
  end)
end

--- How many BPF descriptors the process holds.
function M.bpf_fd_count()
  return least_of_3(function()
    local n = 0
    for line in bpffs.sh("ls -l /proc/" .. M.PID .. "/fd"):gmatch("[^\n]+") do
      if line:find("anon_inode:bpf-", 1, true) then n = n + 1 end
    end
    return n
  end)
end

return M
