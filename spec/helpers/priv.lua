-- Test helper: does this process have the privilege BPF maps need, and a
-- wrapper that turns a privileged test into a pending one when it has not.
--
--   local priv = require("spec.helpers.priv").bind(_ENV)
--   priv.it("creates a map #priv", function() ... end)
--   -- or, inside any it():  priv.require_priv(pending)
--   -- the unprivileged failure paths, from a privileged run:
--   local out = priv.run_unprivileged("print(require'bpfmap'.list_maps())")
--
-- The probe is the real thing, not a guess from the uid or capability bits:
-- create a tiny array map with bpfmap and close it. Its result is cached for
-- the whole busted run, so the probe costs one map.
--
-- Busted gives spec files an environment of their own (it(), pending(),
-- ...) rather than globals, and inside a running test `pending` is the
-- function that marks that test pending. A helper module only sees _G, so a
-- spec file hands over its environment once with bind(_ENV); failing that,
-- the environment of the test function itself is used (a function that
-- names no global at all has none, hence bind).
local bpffs = require "spec.helpers.bpffs"

local M = {}

M.PROBE_NAME = "bpfmapt_probe"
M.REASON_PREFIX = "needs CAP_BPF/CAP_SYS_ADMIN: "

local cached -- nil until probed, then { ok, reason }
local bound_env -- busted's spec environment, from bind()

-- The _ENV upvalue of a Lua function (busted's per-file environment for a
-- function written in a spec file), or _G.
local function env_of(fn)
  for i = 1, math.huge do
    local name, value = debug.getupvalue(fn, i)
    if name == nil then break end
    if name == "_ENV" then return value end
  end
  return _G
end

local function probe()
  local ok, bpfmap = pcall(require, "bpfmap")
  if not ok then
    return false, "cannot load bpfmap: " .. tostring(bpfmap)
  end
  local called, m, msg = pcall(bpfmap.MapData.create,
    { type = "array", key_size = 4, value_size = 4, max_entries = 1 }, M.PROBE_NAME)
  if not called then
    return false, "bpfmap.MapData.create raised: " .. tostring(m)
  end
  if not m then
    return false, tostring(msg)
  end
  m:close()
  return true
end

--- Can this process create a BPF map? Returns true, or false and the reason
-- (the message of the failed create, e.g. "create array map ...: Operation
-- not permitted").
function M.can_create_map()
  if cached == nil then
    local ok, reason = probe()
    cached = { ok, reason }
  end
  return cached[1], cached[2]
end

--- For this helper's own tests: pretend the probe said (ok, reason); with
-- no arguments, forget the cached result so the next call probes again.
function M.force(ok, reason)
  if ok == nil then
    cached = nil
  else
    cached = { ok, reason }
  end
end

--- Remember busted's spec environment (pass _ENV from a spec file's top
-- level). Returns the module, for `require(...).bind(_ENV)`.
function M.bind(env)
  assert(type(env) == "table", "priv.bind: pass the spec file's _ENV")
  bound_env = env
  return M
end

local function spec_env(fn)
  local env = bound_env or env_of(fn)
  assert(env ~= _G and env.it and env.pending,
    "priv: no busted environment; call require('spec.helpers.priv').bind(_ENV) first")
  return env
end

--- Inside a running test: mark it pending (through busted's `pending`, which
-- the caller passes in) when the process cannot create maps.
function M.require_priv(pending)
  local ok, reason = M.can_create_map()
  if not ok then
    pending(M.REASON_PREFIX .. tostring(reason))
  end
end

--- Wrap a test body so that it is marked pending, rather than failing, when
-- the process lacks the privilege. busted's `pending` comes from bind(_ENV)
-- or else from the environment of `fn`.
function M.guard(fn)
  local env = spec_env(fn)
  return function(...)
    M.require_priv(env.pending)
    return fn(...)
  end
end

--- Run a Lua chunk in a child lua5.4 that has dropped every privilege
-- (uid/gid nobody, no capabilities), with this process's LUA_PATH and
-- LUA_CPATH, so the failure paths that only an unprivileged caller meets
-- can be tested from a privileged run. Returns the child's stdout, or nil
-- and why it cannot be done here (not root, no setpriv, or the kernel lets
-- unprivileged users use BPF, so the child would not be refused).
function M.run_unprivileged(code)
  local ok, why = M.can_create_map()
  if not ok then return nil, "cannot create maps ourselves: " .. tostring(why) end
  local disabled = tonumber((bpffs.read_file("/proc/sys/kernel/unprivileged_bpf_disabled") or ""):match("%d+"))
  if disabled == nil or disabled == 0 then
    return nil, "kernel.unprivileged_bpf_disabled is not set, unprivileged BPF is allowed"
  end
  if os.execute("command -v setpriv >/dev/null 2>&1") ~= true then
    return nil, "setpriv (util-linux) is not installed"
  end
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  os.execute("chmod 0644 " .. bpffs.quote(script))
  local cmd = "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
    .. " --bounding-set=-all env"
    .. " LUA_PATH=" .. bpffs.quote(os.getenv("LUA_PATH") or package.path)
    .. " LUA_CPATH=" .. bpffs.quote(os.getenv("LUA_CPATH") or package.cpath)
    .. " lua5.4 " .. bpffs.quote(script) .. " 2>&1"
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local closed, how, status = p:close()
  os.remove(script)
  if not closed then
    error(string.format("unprivileged child failed (%s %s):\n%s", tostring(how),
      tostring(status), out), 2)
  end
  return out
end

--- describe(name, fn) for a block whose setup already needs privilege
-- (loading a fixture, say): without it, the block is one pending test that
-- says why, instead of a setup error.
function M.describe(name, fn)
  local env = spec_env(fn)
  local ok, reason = M.can_create_map()
  if ok then
    return env.describe(name, fn)
  end
  return env.describe(name, function()
    env.pending(M.REASON_PREFIX .. tostring(reason))
  end)
end

--- it(name, fn) for a privileged test: the name should carry "#priv".
-- (A tail call, so busted records the spec file's line, not this one.)
function M.it(name, fn)
  local it = spec_env(fn).it
  return it(name, M.guard(fn))
end

return M
