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

return M
