-- Test helper: handshakes between a spec and the processes it starts.
--
-- The suite runs on a loaded 2-core machine and under valgrind, where the
-- spec's own interpreter is 20-50x slower than the children it starts. So no
-- assertion may rest on a sleep being long enough or on something happening
-- quickly: a spec waits for the event itself (a file the child creates, the
-- child's state in /proc), and a timeout only bounds the wait so that a bug
-- shows as a failure rather than a hang.
--
--   local sync = require "spec.helpers.sync"
--   local dir <close> = sync.tempdir()
--   local ready = dir:file("ready")        -- the child creates it
--   ... start the child ...
--   sync.wait_file(ready, "child ready")
--   sync.wait_blocked_in_poll(pid, "child in Signal:wait")
local bpffs = require "spec.helpers.bpffs"
local core = require "bpfmap.core"

local M = {}

--- Bound of every wait here, in seconds: generous, since only a hang (or a
-- bug) should ever reach it.
M.TIMEOUT = 60

--- Poll `get` every 10 ms until it returns a true value, and return that.
-- Raises "<what>: not within Ns (last: <value>)" after `timeout` seconds.
function M.wait(get, what, timeout)
  timeout = timeout or M.TIMEOUT
  local deadline = core.monotonic() + timeout
  local v
  while true do
    v = get()
    if v then return v end
    if core.monotonic() > deadline then
      error(string.format("%s: not within %gs (last: %s)", what, timeout, tostring(v)), 2)
    end
    core.sleep(0.01)
  end
end

--- Whether a file exists (can be opened for reading).
function M.exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

--- The contents of `path` once it holds at least one whole line.
function M.wait_line(path, what, timeout)
  return M.wait(function()
    local s = bpffs.read_file(path)
    return s and s:find("\n") and s
  end, what, timeout)
end

--- Wait until `path` exists.
function M.wait_file(path, what, timeout)
  return M.wait(function() return M.exists(path) end, what, timeout)
end

--- A process's state letter from /proc/PID/stat ("R", "S", "Z", ...), or
-- nil when there is no such process.
function M.state(pid)
  local stat = bpffs.read_file("/proc/" .. math.tointeger(pid) .. "/stat")
  return stat and stat:match("^%d+ %b() (%a)")
end

--- The kernel function a sleeping process waits in (/proc/PID/wchan), or nil.
function M.wchan(pid)
  return bpffs.read_file("/proc/" .. math.tointeger(pid) .. "/wchan")
end

--- Wait until process `pid` sleeps in poll() (as Signal:wait and
-- Process:wait do), so a signal sent now interrupts that very call.
function M.wait_blocked_in_poll(pid, what, timeout)
  return M.wait(function()
    return M.state(pid) == "S" and (M.wchan(pid) or ""):find("poll") ~= nil
  end, what, timeout)
end

--- Wait until child `pid` has exited and is not reaped yet (a zombie).
function M.wait_zombie(pid, what, timeout)
  return M.wait(function() return M.state(pid) == "Z" end, what, timeout)
end

local Dir = {}
Dir.__index = Dir

--- A path inside the directory (not created).
function Dir:file(name)
  return self.path .. "/" .. name
end

--- Remove the directory and everything in it. Idempotent.
function Dir:cleanup()
  if self.path then bpffs.sh("rm -rf " .. bpffs.quote(self.path)) end
  self.path = nil
end
Dir.__close = Dir.cleanup
Dir.__gc = function(self) pcall(Dir.cleanup, self) end

--- A fresh private temp dir for handshake files, closeable.
function M.tempdir()
  local path = bpffs.sh("mktemp -d /tmp/bpfmaptspXXXXXX"):gsub("%s+$", "")
  return setmetatable({ path = path }, Dir)
end

--- A random hex tag of `digits` digits (at most 8), for names no other run
-- of the suite on this kernel has. math.random is seeded per process in Lua
-- 5.4; the pid is mixed in so that two runs started together differ too.
function M.tag(digits)
  digits = digits or 4
  local pid = tonumber((bpffs.read_file("/proc/self/stat") or "0"):match("^%d+")) or 0
  local mask = (1 << (4 * digits)) - 1
  return string.format("%0" .. digits .. "x", (math.random(0, mask) ~ (pid * 2654435761)) & mask)
end

return M
