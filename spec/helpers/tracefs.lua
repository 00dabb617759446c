-- Test helper: make sure libbpf can attach tracepoint programs.
--
-- libbpf 1.1 reads a tracepoint's id under /sys/kernel/debug/tracing when
-- that exists, else under /sys/kernel/tracing, which must then be a
-- tracefs. ensure() mounts tracefs there when neither is usable, and
-- nothing here ever unmounts it: other users of the machine (other specs
-- running at the same time, or anyone else) may have programs attached
-- through it, and a second mount of tracefs is the same instance anyway.

local bpffs = require "spec.helpers.bpffs"

local M = {}

M.TRACEFS = "/sys/kernel/tracing"

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Whether tracepoint ids can be read where libbpf looks for them.
function M.usable()
  if os.execute("test -e /sys/kernel/debug/tracing/events") then return true end
  return trim(bpffs.sh("stat -f -c %T " .. M.TRACEFS .. " 2>/dev/null || true")) == "tracefs"
end

--- Mount tracefs at /sys/kernel/tracing unless libbpf can already find
-- tracepoints. Raises with the mount's error when it cannot be done.
function M.ensure()
  if M.usable() then return end
  local ok, err = pcall(bpffs.sh, "mount -t tracefs nodev " .. M.TRACEFS)
  -- another process may have mounted it meanwhile
  if not ok and not M.usable() then error(err, 2) end
end

return M
