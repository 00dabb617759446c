-- Shared by the examples: a private bpffs in a temporary directory, so an
-- example never touches /sys/fs/bpf, and a shell helper.
local M = {}

function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(string.format("%s: exit %s\n%s", cmd, tostring(code), out), 2) end
  return out
end

-- Mount a bpffs under a fresh temp dir; returns the dir and a cleanup
-- function that removes what was pinned there and unmounts it.
function M.private_bpffs()
  -- no '.' in the path: libbpf 1.1 rewrites dots in pin paths
  local dir = M.sh("mktemp -d /tmp/bpfmapdemoXXXXXX"):gsub("%s+$", "")
  M.sh("mount -t bpf bpf " .. dir)
  local function cleanup()
    os.execute("find " .. dir .. " -mindepth 1 -maxdepth 1 ! -name '*.debug' -exec rm -rf {} + 2>/dev/null")
    os.execute("umount " .. dir .. " && rmdir " .. dir)
  end
  return dir, cleanup
end

-- This process's id (Lua has no getpid): the programs filter on it.
function M.pid()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("n")
  f:close()
  return math.tointeger(pid)
end

-- Attaching a tracepoint needs tracefs; mount it where libbpf looks if it
-- is not there. Never unmounted: other programs may use it.
function M.ensure_tracefs()
  if os.execute("mountpoint -q /sys/kernel/tracing") then return end
  M.sh("mount -t tracefs tracefs /sys/kernel/tracing")
  print("mounted tracefs at /sys/kernel/tracing (left mounted)")
end

return M
