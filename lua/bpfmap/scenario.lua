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
--   4. the steps run in order. A failure (of the load, the writes or a
--      step) stops the run: later steps are skipped (after failed writes,
--      those waiting for them fail with the reason instead), and children
--      already started are stopped (SIGTERM, then SIGKILL) and reaped;
--      children told the writes failed get CHILD_GRACE seconds to exit on
--      their own first;
--   5. the checks run if everything before succeeded;
--   6. objects, maps and children are released.

local bpfmap = require "bpfmap"

local monotonic, sleep = bpfmap.monotonic, bpfmap.sleep

local errno = bpfmap.errno

local M = {}

--- The environment variable naming the write-done descriptor in a child.
M.ENV = "BPFMAP_WRITE_DONE_FD"

local DEFAULT_WRITE_TIMEOUT = 10
local DEFAULT_COMMAND_TIMEOUT = 60
local DEFAULT_CHILD_WAIT = 60
local DEFAULT_INTERVAL = 0.05
local WRITE_RETRY_INTERVAL = 0.1
-- A child told that the writes failed (ECANCELED) exits on its own in
-- milliseconds; this bounds one that does not listen.
local CHILD_GRACE = 5
-- Between SIGTERM and SIGKILL.
local TERM_GRACE = 2

-- ---- checking the definition (a caller's mistake raises, before anything runs) ----

-- Raised as a table so that M.run can re-raise the message at its caller's
-- line, however deep in the checks the mistake was found.
local DefError = {}

local function fail_def(fmt, ...)
  error(setmetatable({ msg = "scenario: " .. string.format(fmt, ...) }, DefError))
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

local function has_type(v, name)
  local mt = type(v) == "userdata" and getmetatable(v)
  return type(mt) == "table" and mt.__name == name
end

local function is_write(w) return has_type(w, "bpfmap.BpfMapWrite") end
local function is_mapdata(m) return has_type(m, "bpfmap.MapData") end

local function is_map_ref(m)
  return is_mapdata(m) or (math.type(m) == "integer" and m > 0 and m <= 0xffffffff)
end

local function is_prog_ref(p)
  return (type(p) == "string" and p ~= "") or (math.type(p) == "integer" and p > 0 and p <= 0xffffffff)
end

local OPEN_OPTS = { name = true, pin_root_path = true, kconfig = true }

local function check_open_opts(o, i)
  if o == nil then return end
  if type(o) ~= "table" then fail_def("load[%d].open_opts must be a table, got %s", i, type(o)) end
  for k, v in pairs(o) do
    if not OPEN_OPTS[k] then fail_def("unknown field '%s' in load[%d].open_opts", tostring(k), i) end
    if type(v) ~= "string" then
      fail_def("load[%d].open_opts.%s must be a string, got %s", i, k, type(v))
    end
  end
end

-- apply_writes' options a scenario passes on; timeout is write_timeout's,
-- and the scenario needs the report.
local function check_write_opts(o)
  if o == nil then return end
  if type(o) ~= "table" then fail_def("write_opts must be a table of apply_writes options, got %s", type(o)) end
  for k, v in pairs(o) do
    if k == "map" then
      if not is_map_ref(v) then fail_def("write_opts.map must be a MapData or a map id, got %s", tostring(v)) end
    elseif k == "maps" then
      if not is_list(v) then fail_def("write_opts.maps must be a list of MapData or map ids") end
      for i, m in ipairs(v) do
        if not is_map_ref(m) then
          fail_def("write_opts.maps[%d] must be a MapData or a map id, got %s", i, tostring(m))
        end
      end
    elseif k == "prog" then
      if not is_prog_ref(v) then fail_def("write_opts.prog must be a program name or id, got %s", tostring(v)) end
    elseif k == "atomic" then
      if type(v) ~= "boolean" then fail_def("write_opts.atomic must be a boolean, got %s", type(v)) end
    elseif k == "interval" then
      if type(v) ~= "number" or not (v > 0 and v <= 1e9) then
        fail_def("write_opts.interval must be a positive number of seconds, got %s", tostring(v))
      end
    elseif k == "timeout" then
      fail_def("write_opts.timeout: give write_timeout instead")
    elseif k == "report" then
      fail_def("write_opts.report: the scenario keeps the write report")
    else
      fail_def("unknown field '%s' in write_opts", tostring(k))
    end
  end
end

local function check_env(env, step)
  if env == nil then return end
  if type(env) ~= "table" then fail_def("step '%s': env must be a table, got %s", step, type(env)) end
  for k, v in pairs(env) do
    if type(k) ~= "string" or k == "" or k:find("[=\0]") then
      fail_def("step '%s': env name %s must be a non-empty string without '=' or NUL", step, tostring(k))
    end
    if type(v) ~= "string" and math.type(v) ~= "integer" then
      fail_def("step '%s': env.%s must be a string or an integer, got %s", step, k, type(v))
    end
  end
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
      check_open_opts(l.open_opts, i)
    end
  end
  if def.find ~= nil then
    if def.load ~= nil then
      fail_def("load and find cannot be combined: a scenario drives the programs it loads, or one it finds")
    end
    if type(def.find) ~= "table" then fail_def("find must be { prog = name or id } or { pin = path }") end
    check_keys(def.find, { prog = true, pin = true }, "find")
    if (def.find.prog == nil) == (def.find.pin == nil) then
      fail_def("find needs exactly one of prog (a program name or id) and pin (a pinned map's path)")
    end
    local p = def.find.prog
    if p ~= nil and not (type(p) == "string" and p ~= "") and math.type(p) ~= "integer" then
      fail_def("find.prog must be a program name or id, got %s", tostring(p))
    end
    local pin = def.find.pin
    if pin ~= nil and (type(pin) ~= "string" or pin == "" or pin:find("\0", 1, true)) then
      fail_def("find.pin must be a path, got %s", tostring(pin))
    end
  end
  if def.writes ~= nil and type(def.writes) ~= "function" then
    if not is_list(def.writes) then fail_def("writes must be a list of BpfMapWrite or a function") end
    for i, w in ipairs(def.writes) do
      if not is_write(w) then fail_def("writes[%d] must be a BpfMapWrite, got %s", i, tostring(w)) end
    end
  end
  check_timeout(def.write_timeout, "write_timeout")
  check_write_opts(def.write_opts)
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
    check_env(s.env, s.name)
    if s.capture ~= nil and type(s.capture) ~= "boolean" then
      fail_def("step '%s': capture must be a boolean, got %s", s.name, tostring(s.capture))
    end
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

local function is_open(m)
  return (pcall(m.id, m))
end

--- ctx:map(name) -> MapData of the scenario's programs: with `load`, by
-- section name (".bss"), kernel or libbpf name through Object:map; with
-- `find`, the found program's map whose kernel name is name or ends with it.
-- Raises when none or several match. The same handle is returned while it
-- is open, so polling costs no syscall; the runner closes it at the end,
-- and a caller that closes it (`local m <close> = ctx:map(...)`) gets a new
-- one from the next call.
function Ctx:map(name)
  if type(name) ~= "string" then
    error("bad argument #1 to 'map' (name must be a string, got " .. type(name) .. ")", 2)
  end
  local cached = self._maps[name]
  if cached and is_open(cached) then return cached end
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
    local ids, err = self:prog_map_ids()
    if not ids then error("ctx:map(" .. string.format("%q", name) .. "): " .. err, 2) end
    local hits, names = {}, {}
    for _, id in ipairs(ids) do
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
      error(string.format("ctx:map(%q): %d maps of %s match (its maps: %s)", name, #hits,
        self:found_what(), table.concat(names, ", ")), 2)
    end
    found = hits[1]
  else
    error("ctx:map: the scenario neither loads nor finds a program", 2)
  end
  self._maps[name] = found
  return found
end

--- What `find` names, for messages.
function Ctx:found_what()
  if self.find.pin then return "the programs using the map pinned at " .. self.find.pin end
  return "program " .. tostring(self.find.prog)
end

-- The ids of the maps of the programs using map id `id`, that map first.
local function maps_of_programs_using(id)
  local progs, err, code = bpfmap.list_programs()
  if not progs then return nil, err, code end
  local ids, seen = { id }, { [id] = true }
  for _, p in ipairs(progs) do
    local uses = false
    for _, mid in ipairs(p.map_ids) do if mid == id then uses = true end end
    if uses then
      for _, mid in ipairs(p.map_ids) do
        if not seen[mid] then seen[mid] = true; ids[#ids + 1] = mid end
      end
    end
  end
  return ids
end

--- The ids of the maps `find` names: the maps the found program(s) use, or
-- the pinned map and the maps of every program using it. nil, message,
-- errno when the pin is not there (ENOENT) or cannot be opened.
function Ctx:prog_map_ids()
  if self.find.pin then
    local m, err, code = bpfmap.MapData.from_pin(self.find.pin)
    if not m then return nil, err, code end
    local id = m:id()
    m:close()
    return maps_of_programs_using(id)
  end
  local progs, err, code = bpfmap.list_programs()
  if not progs then return nil, err, code end
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

-- What a finished child's status says, into its step's result.
local function settle_command(res, status)
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

-- Wait for a command step's child within its timeout, which counts from
-- its start, or for a child that waited for the writes, from the moment
-- they were settled (its workload's time, not the load's and the
-- writes' retries); over it, the child is killed.
local function finish_command(step, res, settled_at)
  local p = res.process
  if not p then return end
  res.process = nil
  local timeout = step.timeout or DEFAULT_COMMAND_TIMEOUT
  local from = step.wait_for_writes and settled_at or res.started
  local left = math.max(0, from + timeout - monotonic())
  local status, err, code = p:wait(left)
  if not status and code == errno.ETIMEDOUT then
    p:kill("KILL")
    status = p:wait()
    res.ok, res.error = false, string.format("timed out after %gs (killed)", timeout)
  elseif not status then
    res.ok, res.error = false, err
  end
  p:close()
  settle_command(res, status)
end

-- Stop a started child once the scenario has failed: `grace` seconds to
-- exit on its own (a child told the writes failed), then SIGTERM, then
-- SIGKILL, and reap it.
local function stop_command(res, grace, why)
  local p = res.process
  if not p then return end
  res.process = nil
  local status, err, code = p:wait(grace)
  if not status and code == errno.ETIMEDOUT then
    p:kill("TERM")
    status, err, code = p:wait(TERM_GRACE)
    if not status and code == errno.ETIMEDOUT then
      p:kill("KILL")
      status, err = p:wait()
    end
    if status then
      res.ok, res.error = false, string.format("stopped (%s): %s",
        status.signal and ("signal " .. status.signal) or ("exit " .. tostring(status.code)), why)
    end
  end
  if not status then res.ok, res.error = false, err end
  p:close()
  settle_command(res, status)
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

-- find.pin: wait for the pin (whoever loads the program may not have
-- pinned yet) until the deadline, then the ids of the maps it names.
local function pinned_map_ids(ctx, deadline, interval)
  while true do
    local ids, err, code = ctx:prog_map_ids()
    if ids then return ids end
    if code ~= errno.ENOENT then return nil, err, code end
    local left = deadline - monotonic()
    if left <= 0 then
      return nil, string.format("%s (gave up after %gs)", err, ctx.write_timeout), code
    end
    sleep(math.min(interval, left))
  end
end

local function write_opts(def, ctx)
  local opts = {}
  for k, v in pairs(def.write_opts or {}) do opts[k] = v end
  opts.timeout = def.write_timeout or DEFAULT_WRITE_TIMEOUT
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
    elseif def.find and def.find.pin then
      local t0 = monotonic()
      local ids, err, code = pinned_map_ids(ctx, t0 + opts.timeout, opts.interval or WRITE_RETRY_INTERVAL)
      if not ids then return nil, err, code end
      -- handles rather than ids: apply_writes opens ids on every attempt
      local maps = {}
      ctx._write_maps = maps
      for _, id in ipairs(ids) do
        local m, merr, mcode = bpfmap.MapData.from_id(id)
        if not m then return nil, merr, mcode end
        maps[#maps + 1] = m
      end
      opts.maps = maps
      -- what is left of write_timeout, to the millisecond (so a pin found
      -- at once leaves the messages saying write_timeout's own figure)
      local left = opts.timeout - (monotonic() - t0)
      opts.timeout = math.max(0, math.floor(left * 1000 + 0.5) / 1000)
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
  local valid, why = pcall(check_def, def)
  if not valid then
    if getmetatable(why) == DefError then error(why.msg, 2) end
    error(why, 0)
  end
  local t0 = monotonic()
  local sig = assert(bpfmap.Signal.new())
  local result = setmetatable({ name = def.name, ok = false, steps = {}, checks = {} }, Result)
  local ctx = setmetatable({ name = def.name, objects = {}, find = def.find, signal = sig,
    steps = {}, _maps = {}, result = result,
    write_timeout = def.write_timeout or DEFAULT_WRITE_TIMEOUT }, Ctx)
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
    local settled_at = monotonic()
    ctx.writes = result.writes
    -- 4. steps in order. After a failed load or write, only what waits for
    -- the writes runs (it hears the reason); the first failed step stops
    -- the run.
    local failed
    local function stop_children(why)
      for _, res in ipairs(result.steps) do
        if res.process then
          res.stopped = true
          -- children told that the writes failed may exit on their own
          stop_command(res, fail and CHILD_GRACE or 0, why)
        end
      end
    end
    for i, step in ipairs(def.steps or {}) do
      local res = result.steps[i]
      if res.stopped then
        -- a child already stopped after an earlier failure
      elseif failed or (fail and not step.wait_for_writes) then
        res.ok, res.skipped = false, true
        res.error = failed and ("not run: step '" .. failed .. "' failed")
          or ("not run: " .. fail)
      else
        if step.command then
          if not res.started then start_command(step, res, sig) end
          if fail then
            stop_command(res, CHILD_GRACE, fail)
          else
            finish_command(step, res, settled_at)
          end
        else
          run_function(step, res, ctx)
        end
        if not res.ok then
          failed = step.name
          result.error = result.error or string.format("step '%s': %s", step.name, res.error)
          stop_children("step '" .. step.name .. "' failed")
        end
      end
    end
    if fail and not failed then stop_children(fail) end
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
    if not is_mapdata(map) then
      local mt = type(map) == "userdata" and getmetatable(map)
      local what = type(mt) == "table" and type(mt.__name) == "string" and mt.__name or type(map)
      error("bad argument #1 to 'wait_until' (a MapData or a function, got " .. what .. ")", 2)
    end
    if type(path) ~= "string" then
      error("bad argument #2 to 'wait_until' (path must be a string, got " .. type(path) .. ")", 2)
    end
    getter = function() return map:get(path) end
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
