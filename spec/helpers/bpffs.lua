-- Test helper: a private bpffs mount per test, plus a strict shell runner.
--
-- Tests never touch /sys/fs/bpf: other programs on the machine may own pins
-- there, and it is not even mounted here. Each mount() gets its own temp dir
-- so two loads of the same object never collide.
--
-- Plain Lua 5.4, io.popen/os.execute only, so the helpers work without any
-- extra rocks and without bpfmap itself (they are the independent witness).

local M = {}

-- Quote one shell word. Single quotes disable every expansion; an embedded
-- quote is closed, escaped and reopened.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

-- The whole content of a file, or nil when it cannot be opened.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Run a shell command and return its stdout. On a non-zero exit, raise an
-- error naming the command and carrying its stderr, because a failing bpftool
-- call is almost always what a broken test needs to show.
function M.sh(cmd)
  local errfile = os.tmpname()
  local p = assert(io.popen("(" .. cmd .. ") 2>" .. M.quote(errfile), "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  local err = M.read_file(errfile) or ""
  os.remove(errfile)
  if not ok then
    error(string.format("command failed (%s %s): %s\nstderr: %s",
      tostring(how), tostring(code), cmd, err), 2)
  end
  return out
end

-- Whether `path` exists, by stat (test -e) rather than by opening it, so
-- that a pin counts whatever its mode.
function M.exists(path)
  return os.execute("test -e " .. M.quote(path)) == true
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local Mount = {}
Mount.__index = Mount

-- Remove our pins, unmount and remove the directory. Safe to call twice, and
-- careful to only ever rm inside a bpffs that we mounted ourselves.
function Mount:cleanup()
  if self.cleaned then return end
  local dir = self.dir
  local q = M.quote(dir)
  local fstype = trim(M.sh("stat -f -c %T " .. q .. " 2>/dev/null || true"))
  if self.mounted and fstype == "bpf_fs" then
    -- maps.debug/progs.debug are the kernel's preloaded iterators, created
    -- on every bpffs mount; they cannot be unlinked (EPERM) and go away
    -- with the umount.
    M.sh("find " .. q .. " -mindepth 1 -maxdepth 1"
      .. " ! -name maps.debug ! -name progs.debug -exec rm -rf {} +")
    M.sh("umount " .. q)
  end
  self.mounted = false
  M.sh("rmdir " .. q .. " 2>/dev/null || true")
  self.cleaned = true
end

-- Lets specs write `local fs <close> = bpffs.mount()`.
Mount.__close = Mount.cleanup

-- Last-resort safety net if a spec forgets cleanup(); errors are swallowed
-- because raising from a finaliser only produces a warning anyway.
function Mount:__gc()
  pcall(self.cleanup, self)
end

function M.mount()
  -- No dots in the path: libbpf 1.1 rewrites every '.' in a pin path to '_'
  -- (meant for map names like "globals.bss") so a mktemp default such as
  -- /tmp/tmp.XXXX makes pinning fail with ENOENT.
  local dir = trim(M.sh("mktemp -d /tmp/bpfmapXXXXXX"))
  assert(dir:match("^/tmp/bpfmap[%w]+$"), "unexpected mktemp result: " .. dir)
  local ok, err = pcall(M.sh, "mount -t bpf bpf " .. M.quote(dir))
  if not ok then
    os.execute("rmdir " .. M.quote(dir))
    error(err, 2)
  end
  return setmetatable({ dir = dir, mounted = true, cleaned = false }, Mount)
end

return M
