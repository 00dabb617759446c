--- bpfmap.scenario: declared scenarios over BPF programs.
--
-- A scenario loads programs (or finds loaded ones), applies a batch of
-- BpfMapWrite as soon as every map and field resolves, raises a write-done
-- Signal, runs its steps (Lua functions, or commands in child processes) and
-- its checks, and returns one result table. Unlike ktstr, a write that fails
-- or a wait that times out fails the scenario, and anything waiting on the
-- writes is woken with the failure instead of being left to time out.
--
--   local scenario = require "bpfmap.scenario"
--   local result = scenario.run {
--     name = "kill switch",
--     load = { { object = "build/examples/killswitch.bpf.o" } },
--     writes = { bpfmap.BpfMapWrite.new(".bss", "crash", 1) },
--     steps = { { name = "workload", run = function(ctx) ... end } },
--     checks = { { name = "errors", check = function(ctx) return ok, detail end } },
--   }
--   assert(result.ok, result.error)
--
-- Order of a run (Lua has no threads, so it is sequential, and the one
-- concurrent part is a child process):
--   1. command steps with wait_for_writes start at once and block on the
--      inherited write-done descriptor (BPFMAP_WRITE_DONE_FD);
--   2. `load` opens, loads and attaches each object;
--   3. the writes are applied as one batch, retried until they resolve or
--      write_timeout passes; the signal is raised, or failed with the reason;
--   4. the steps run in order; the first failure skips the rest (children
--      already started are still waited for);
--   5. the checks run if everything before succeeded;
--   6. objects, maps and children are released.

local bpfmap = require "bpfmap"

local core = require "bpfmap.core"
local monotonic, sleep = core.monotonic, core.sleep

local errno = bpfmap.errno

local M = {}

--- The environment variable naming the write-done descriptor in a child.
M.ENV = "BPFMAP_WRITE_DONE_FD"

local DEFAULT_WRITE_TIMEOUT = 10
local DEFAULT_COMMAND_TIMEOUT = 60
local DEFAULT_CHILD_WAIT = 60
local DEFAULT_INTERVAL = 0.05

-- ---- checking the definition (a caller's mistake raises, before anything runs) ----

local function fail_def(fmt, ...)
  error("scenario: " .. string.format(fmt, ...), 3)
end

local function check_keys(t, allowed, what)
  for k in pairs(t) do
    if not allowed[k] then
      fail_def("unknown field '%s' in %s", tostring(k), what)
    end
  end
end

local function is_list(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function check_timeout(v, what)
  if v ~= nil and (type(v) ~= "number" or not (v >= 0 and v <= 1e9)) then
    fail_def("%s must be a number of seconds (0..1e9), got %s", what, tostring(v))
  end
end

local function is_write(w)
  return type(w) == "userdata" and pcall(function() return w:field() end)
end

local DEF_KEYS = { name = true, load = true, find = true, writes = true, write_timeout = true,
  write_opts = true, steps = true, checks = true }
local LOAD_KEYS = { object = true, attach = true, open_opts = true }
local STEP_KEYS = { name = true, run = true, command = true, wait_for_writes = true,
  timeout = true, env = true, capture = true }
local CHECK_KEYS = { name = true, check = true }

local function check_def(def)
  if type(def) ~= "table" then fail_def("definition must be a table, got %s", type(def)) end
  check_keys(def, DEF_KEYS, "the definition")
  if type(def.name) ~= "string" or def.name == "" then
    fail_def("name must be a non-empty string, got %s", tostring(def.name))
  end
  if def.load ~= nil then
    if not is_list(def.load) then fail_def("load must be a list of { object = path }") end
    for i, l in ipairs(def.load) do
      if type(l) ~= "table" then fail_def("load[%d] must be a table, got %s", i, type(l)) end
      check_keys(l, LOAD_KEYS, "load[" .. i .. "]")
      if type(l.object) ~= "string" then fail_def("load[%d].object must be a path", i) end
      if l.attach ~= nil and type(l.attach) ~= "boolean" then
        fail_def("load[%d].attach must be a boolean", i)
      end
    end
  end
  if def.find ~= nil then
    if type(def.find) ~= "table" then fail_def("find must be { prog = name or id }") end
    check_keys(def.find, { prog = true }, "find")
    local p = def.find.prog
    if not (type(p) == "string" and p ~= "") and math.type(p) ~= "integer" then
      fail_def("find.prog must be a program name or id, got %s", tostring(p))
    end
  end
  if def.writes ~= nil and type(def.writes) ~= "function" then
    if not is_list(def.writes) then fail_def("writes must be a list of BpfMapWrite or a function") end
    for i, w in ipairs(def.writes) do
      if not is_write(w) then fail_def("writes[%d] must be a BpfMapWrite, got %s", i, tostring(w)) end
    end
  end
  check_timeout(def.write_timeout, "write_timeout")
  if def.write_opts ~= nil and type(def.write_opts) ~= "table" then
    fail_def("write_opts must be a table of apply_writes options")
  end
  local seen = {}
  if def.steps ~= nil and not is_list(def.steps) then fail_def("steps must be a list") end
  for i, s in ipairs(def.steps or {}) do
    if type(s) ~= "table" then fail_def("steps[%d] must be a table, got %s", i, type(s)) end
    check_keys(s, STEP_KEYS, "steps[" .. i .. "]")
    if type(s.name) ~= "string" or s.name == "" then fail_def("steps[%d].name must be a non-empty string", i) end
    if seen[s.name] then fail_def("two steps are named '%s'", s.name) end
    seen[s.name] = true
    if (s.run == nil) == (s.command == nil) then
      fail_def("step '%s' needs exactly one of run (a function) and command (a list)", s.name)
    end
    if s.run ~= nil and type(s.run) ~= "function" then fail_def("step '%s': run must be a function", s.name) end
    if s.command ~= nil then
      if not is_list(s.command) or #s.command == 0 then
        fail_def("step '%s': command must be a non-empty list of strings", s.name)
      end
      for j, a in ipairs(s.command) do
        if type(a) ~= "string" then fail_def("step '%s': command[%d] must be a string", s.name, j) end
      end
    elseif s.env ~= nil or s.capture ~= nil then
      fail_def("step '%s': env and capture are for command steps", s.name)
    end
    if s.wait_for_writes ~= nil and type(s.wait_for_writes) ~= "boolean" then
      fail_def("step '%s': wait_for_writes must be a boolean", s.name)
    end
    if s.env ~= nil and type(s.env) ~= "table" then fail_def("step '%s': env must be a table", s.name) end
    check_timeout(s.timeout, "step '" .. s.name .. "' timeout")
  end
  if def.checks ~= nil and not is_list(def.checks) then fail_def("checks must be a list") end
  for i, c in ipairs(def.checks or {}) do
    if type(c) ~= "table" then fail_def("checks[%d] must be a table, got %s", i, type(c)) end
    check_keys(c, CHECK_KEYS, "checks[" .. i .. "]")
    if type(c.name) ~= "string" or c.name == "" then fail_def("checks[%d].name must be a non-empty string", i) end
    if type(c.check) ~= "function" then fail_def("check '%s': check must be a function", c.name) end
  end
end

-- ---- the context steps and checks receive ----

local Ctx = {}
Ctx.__index = Ctx

--- ctx:map(name) -> MapData of the scenario's programs: with `load`, by
-- section name (".bss"), kernel or libbpf name through Object:map; with
-- `find`, the found program's map whose kernel name is name or ends with it.
-- Raises when none or several match. The MapData is closed by the runner.
function Ctx:map(name)
  if self._maps[name] then return self._maps[name] end
  local found
  if #self.objects > 0 then
    local hits, why = {}, {}
    for _, obj in ipairs(self.objects) do
      local m, err = obj:map(name)
      if m then hits[#hits + 1] = m else why[#why + 1] = err end
    end
    if #hits ~= 1 then
      for _, m in ipairs(hits) do m:close() end
      error(string.format("ctx:map(%q): %d of the scenario's objects have it%s", name, #hits,
        #hits == 0 and (" (" .. table.concat(why, "; ") .. ")") or ""), 2)
    end
    found = hits[1]
  elseif self.find then
    local hits, names = {}, {}
    for _, id in ipairs(self:prog_map_ids()) do
      local m = bpfmap.MapData.from_id(id)
      if m then
        local n = m:info().name
        names[#names + 1] = n
        if n == name or (#n > #name and n:sub(-#name) == name) then
          hits[#hits + 1] = m
        else
          m:close()
        end
      end
    end
    if #hits ~= 1 then
      for _, m in ipairs(hits) do m:close() end
      error(string.format("ctx:map(%q): %d maps of program %s match (its maps: %s)", name, #hits,
        tostring(self.find.prog), table.concat(names, ", ")), 2)
    end
    found = hits[1]
  else
    error("ctx:map: the scenario neither loads nor finds a program", 2)
  end
  self._maps[name] = found
  return found
end

--- The ids of the maps the found program(s) use.
function Ctx:prog_map_ids()
  local progs = assert(bpfmap.list_programs())
  local ids, seen = {}, {}
  for _, p in ipairs(progs) do
    if p.id == self.find.prog or p.name == self.find.prog then
      for _, id in ipairs(p.map_ids) do
        if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
      end
    end
  end
  return ids
end

-- ---- the result ----

local Result = {}

local function fmt_s(s) return string.format("%.3fs", s or 0) end

function Result.__tostring(r)
  local out = { string.format("scenario %s: %s (%s)", r.name, r.ok and "ok" or "FAILED", fmt_s(r.elapsed)) }
  if not r.ok and r.error then out[#out + 1] = "  error: " .. r.error end
  if r.writes then
    for _, w in ipairs(r.writes) do
      out[#out + 1] = string.format("  write %s in %s: %s -> %s", w.field, w.map, tostring(w.before),
        tostring(w.after))
    end
  end
  for _, s in ipairs(r.steps) do
    out[#out + 1] = string.format("  step %s: %s (%s)%s", s.name,
      s.skipped and "skipped" or s.ok and "ok" or "FAILED", fmt_s(s.elapsed),
      s.error and (": " .. s.error) or "")
  end
  for _, c in ipairs(r.checks) do
    out[#out + 1] = string.format("  check %s: %s%s", c.name,
      c.skipped and "skipped" or c.ok and "ok" or "FAILED",
      c.detail ~= nil and (": " .. tostring(c.detail)) or "")
  end
  return table.concat(out, "\n")
end

-- ---- steps ----

local function first_line(s)
  s = (s or ""):gsub("%s+$", "")
  return s:match("([^\n]*)$")
end

-- Start a command step; its result gets the process until it is waited for.
local function start_command(step, res, sig)
  local env = {}
  for k, v in pairs(step.env or {}) do env[k] = v end
  local inherit
  if step.wait_for_writes then
    env[M.ENV] = tostring(sig:fd())
    inherit = { sig:fd() }
  end
  res.started = monotonic()
  local p, err = bpfmap.spawn(step.command, { env = env, inherit = inherit,
    capture = step.capture ~= false })
  if not p then
    res.ok, res.error, res.elapsed = false, err, 0
    return
  end
  res.pid = p:pid()
  res.process = p
end

local function finish_command(step, res)
  local p = res.process
  if not p then return end
  res.process = nil
  local timeout = step.timeout or DEFAULT_COMMAND_TIMEOUT
  local left = math.max(0, res.started + timeout - monotonic())
  local status, err, code = p:wait(left)
  if not status and code == errno.ETIMEDOUT then
    p:kill("KILL")
    status = p:wait()
    res.ok, res.error = false, string.format("timed out after %gs (killed)", timeout)
  elseif not status then
    p:close()
    res.ok, res.error = false, err
  end
  p:close()
  if status then
    res.status = status
    res.stdout, res.stderr = status.stdout, status.stderr
    if res.ok == nil then
      if status.code == 0 then
        res.ok = true
      elseif status.code then
        res.ok = false
        res.error = string.format("exited with code %d%s", status.code,
          status.stderr and status.stderr ~= "" and (": " .. first_line(status.stderr)) or "")
      else
        res.ok = false
        res.error = string.format("killed by signal %d", status.signal)
      end
    end
  end
  res.elapsed = monotonic() - res.started
end

local function run_function(step, res, ctx)
  res.started = monotonic()
  if step.wait_for_writes then
    local ok, err = ctx.signal:wait(step.timeout)
    if not ok then
      res.ok, res.error, res.elapsed = false, err, monotonic() - res.started
      return
    end
  end
  local packed = table.pack(pcall(step.run, ctx))
  res.elapsed = monotonic() - res.started
  if not packed[1] then
    res.ok, res.error = false, tostring(packed[2])
  elseif packed[2] == false or (packed[2] == nil and packed.n >= 3 and packed[3] ~= nil) then
    res.ok, res.error = false, tostring(packed[3] or "returned false")
  else
    res.ok, res.value = true, packed[2]
    if step.timeout and res.elapsed > step.timeout then
      res.ok = false
      res.error = string.format("took %.3fs, over its timeout of %gs", res.elapsed, step.timeout)
    end
  end
end

-- ---- the run ----

local function load_objects(def, ctx)
  for _, l in ipairs(def.load or {}) do
    local obj, err = bpfmap.Object.open(l.object, l.open_opts)
    if not obj then return nil, err end
    ctx.objects[#ctx.objects + 1] = obj
    local ok
    ok, err = obj:load()
    if not ok then return nil, err end
    if l.attach ~= false then
      ok, err = obj:attach()
      if not ok then return nil, err end
    end
  end
  return true
end

local function write_opts(def, ctx)
  local opts = {}
  for k, v in pairs(def.write_opts or {}) do opts[k] = v end
  if opts.timeout == nil then opts.timeout = def.write_timeout or DEFAULT_WRITE_TIMEOUT end
  if opts.map == nil and opts.maps == nil and opts.prog == nil then
    if #ctx.objects > 0 then
      -- only the scenario's own programs' maps: other loaded programs may
      -- have a .bss with a field of the same name
      local maps = {}
      ctx._write_maps = maps
      for _, obj in ipairs(ctx.objects) do
        local list, err, code = obj:maps()
        if not list then return nil, err, code end
        for _, m in pairs(list) do maps[#maps + 1] = m end
      end
      opts.maps = maps
    elseif def.find then
      opts.prog = def.find.prog
    end
  end
  return opts
end

local function apply(def, ctx, result)
  local writes = def.writes or {}
  if type(writes) == "function" then
    local ok, w = pcall(writes, ctx)
    if not ok then return nil, "writes function: " .. tostring(w) end
    if not is_list(w) then return nil, "writes function returned " .. tostring(w) .. ", not a list" end
    for i, x in ipairs(w) do
      if not is_write(x) then return nil, string.format("writes[%d] is not a BpfMapWrite: %s", i, tostring(x)) end
    end
    writes = w
  end
  if #writes == 0 then
    result.writes = {}
    return true
  end
  local opts, err, code = write_opts(def, ctx)
  if not opts then return nil, err, code end
  local report
  report, err, code = bpfmap.apply_writes(writes, opts)
  if not report then return nil, err, code end
  result.writes = report
  return true
end

local function release(ctx, result)
  for _, s in ipairs(result.steps) do
    if s.process then s.process:close(); s.process = nil end
  end
  for _, m in pairs(ctx._maps) do m:close() end
  ctx._maps = {}
  for _, m in ipairs(ctx._write_maps or {}) do m:close() end
  for _, obj in ipairs(ctx.objects) do obj:close() end
  ctx.signal:close()
end

--- Run a scenario; returns its result (see the module comment and README).
-- A malformed definition raises; anything that fails while running is in
-- the result: { ok, name, error, writes, steps, checks, elapsed, ... }.
function M.run(def)
  check_def(def)
  local t0 = monotonic()
  local sig = assert(bpfmap.Signal.new())
  local result = setmetatable({ name = def.name, ok = false, steps = {}, checks = {} }, Result)
  local ctx = setmetatable({ name = def.name, objects = {}, find = def.find, signal = sig,
    steps = {}, _maps = {}, result = result }, Ctx)
  for i, step in ipairs(def.steps or {}) do
    result.steps[i] = { name = step.name, kind = step.command and "command" or "run",
      wait_for_writes = step.wait_for_writes or false }
    ctx.steps[step.name] = result.steps[i]
  end

  local ok, err = pcall(function()
    -- 1. children that wait for the writes start now and block on the signal
    for i, step in ipairs(def.steps or {}) do
      if step.command and step.wait_for_writes then start_command(step, result.steps[i], sig) end
    end
    -- 2. load, 3. writes, then the signal either way
    local fail
    local loaded, lerr = load_objects(def, ctx)
    if not loaded then
      fail = "load: " .. tostring(lerr)
    else
      local applied, werr, wcode = apply(def, ctx, result)
      if not applied then
        fail = "writes: " .. tostring(werr)
        result.writes_error, result.writes_errno = werr, wcode
      end
    end
    if fail then
      result.error = fail
      sig:fail(fail)
    else
      -- taken before the raise: nothing that waits can start before it
      result.writes_done_at = monotonic()
      sig:raise()
    end
    ctx.writes = result.writes
    -- 4. steps in order; the first failure skips the rest
    local failed
    for i, step in ipairs(def.steps or {}) do
      local res = result.steps[i]
      if failed then
        if res.process then
          finish_command(step, res)
        elseif res.ok == nil then
          res.ok, res.skipped = false, true
          res.error = "not run: step '" .. failed .. "' failed"
        end
      else
        if step.command then
          if not res.started then start_command(step, res, sig) end
          finish_command(step, res)
        else
          run_function(step, res, ctx)
        end
        if not res.ok then
          failed = step.name
          result.error = result.error or string.format("step '%s': %s", step.name, res.error)
        end
      end
    end
    -- 5. checks, on a scenario that got this far cleanly; each runs even
    -- when an earlier one failed, since together they tell what happened
    local failed_before = result.error
    for i, c in ipairs(def.checks or {}) do
      local r = { name = c.name }
      result.checks[i] = r
      if failed_before then
        r.ok, r.skipped, r.detail = false, true, "not run: the scenario already failed"
      else
        local pok, cok, detail = pcall(c.check, ctx)
        if not pok then
          r.ok, r.detail = false, tostring(cok)
        else
          r.ok, r.detail = not not cok, detail
        end
        if not r.ok then
          result.error = result.error or string.format("check '%s': %s", c.name, tostring(r.detail))
        end
      end
    end
  end)
  release(ctx, result)
  if not ok then error(err, 0) end
  result.ok = result.error == nil
  result.elapsed = monotonic() - t0
  return result
end

-- ---- for steps and checks ----

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. tostring(x) end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end

--- scenario.wait_until(map, path, predicate, timeout [, interval])
--- scenario.wait_until(getter, predicate, timeout [, interval])
-- Polls map:get(path) (or getter()) until predicate(value) holds (a
-- non-function predicate is compared with ==). Returns true, value; or nil,
-- message (with the last value), ETIMEDOUT; or the getter's own nil,
-- message, errno at once.
function M.wait_until(...)
  local getter, predicate, timeout, interval
  local first = ...
  if type(first) == "function" then
    getter, predicate, timeout, interval = ...
  else
    local map, path
    map, path, predicate, timeout, interval = ...
    if type(map) ~= "userdata" then
      error("bad argument #1 to 'wait_until' (a MapData or a function, got " .. type(map) .. ")", 2)
    end
    if type(path) ~= "string" then
      error("bad argument #2 to 'wait_until' (path must be a string, got " .. type(path) .. ")", 2)
    end
    local get = map.get
    if not get then
      error("wait_until: MapData:get is not in this build of bpfmap (BTF-typed values)", 2)
    end
    getter = function() return get(map, path) end
  end
  if predicate == nil then error("bad argument to 'wait_until' (predicate missing)", 2) end
  if type(timeout) ~= "number" or not (timeout >= 0 and timeout <= 1e9) then
    error("bad argument to 'wait_until' (timeout must be seconds in 0..1e9, got " .. tostring(timeout) .. ")", 2)
  end
  interval = interval or DEFAULT_INTERVAL
  if type(interval) ~= "number" or not (interval > 0) then
    error("bad argument to 'wait_until' (interval must be a positive number of seconds)", 2)
  end
  local test = type(predicate) == "function" and predicate or function(v) return v == predicate end
  local deadline = monotonic() + timeout
  while true do
    local v, err, code = getter()
    if v == nil and err ~= nil then return nil, err, code end
    if test(v) then return true, v end
    local left = deadline - monotonic()
    if left <= 0 then
      return nil, string.format("wait_until: not true within %gs (last value %s)", timeout, show(v)),
        errno.ETIMEDOUT
    end
    sleep(math.min(interval, left))
  end
end

--- In a child started by a step with wait_for_writes: wait for the
-- scenario's writes. Returns true, or nil, message, errno (ECANCELED with
-- the scenario's reason when they failed or the scenario died, ETIMEDOUT,
-- ENOENT when the process was not started that way). timeout defaults to 60 s.
function M.wait_for_writes(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout >= 0)) then
    error("bad argument #1 to 'wait_for_writes' (timeout must be seconds)", 2)
  end
  local fd = os.getenv(M.ENV)
  if not fd then
    return nil, M.ENV .. " is not set: this process was not started by a scenario step "
      .. "with wait_for_writes", errno.ENOENT
  end
  local n = math.tointeger(tonumber(fd))
  if not n or n < 0 then
    return nil, string.format("%s=%q is not a descriptor", M.ENV, fd), errno.EINVAL
  end
  local sig, err, code = bpfmap.Signal.from_fd(n)
  if not sig then return nil, err, code end
  local ok
  ok, err, code = sig:wait(timeout or DEFAULT_CHILD_WAIT)
  sig:close()
  return ok, err, code
end

return M
