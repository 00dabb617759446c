-- Concurrent programs (issue 7): BpfMapWrite's store through the mmap never
-- loses a running program's concurrent updates to the neighbouring fields,
-- and a read-modify-write of the whole value does.
--
-- counter.bpf.o counts the getpid() calls of one thread group (`target_tgid`)
-- with an atomic add on `events`; `knob` and `knob2` are the 8 bytes right
-- after it, in the same cache line. It is attached to its tracepoint by
-- build/tools/attach (bpftool 7.1 cannot attach a tracepoint) and fired by
-- build/tools/fire_getpid on another CPU, N times exactly:
--
--   1. while it fires, this process writes knob and knob2 with BpfMapWrite
--      (the warm path, one aligned 4-byte store each) from before the go
--      signal until the firer says it is done, at least KNOB_WRITES times:
--      `events` must be N, exactly;
--   2. while it fires again, build/tools/rmw_writer patches knob with
--      lookup + update of the whole value (what a writer without a mapping
--      does), the runs overlapping in time: `events` ends below N, since
--      each update puts back the counter it read before.
--
-- `events` is read with bpftool (the witness) at the offset bpftool's BTF
-- dump gives. The spec leaves nothing behind: the attach process exits when
-- its stdin is closed, and the maps are waited out. tracefs is mounted if
-- libbpf cannot find tracepoints, and never unmounted: another run of the
-- suite (or anyone) may have programs attached through it meanwhile.
local bpfmap = require "bpfmap"
local priv = require("spec.helpers.priv").bind(_ENV)
local bpfobj = require "spec.helpers.bpfobj"
local bpffs = require "spec.helpers.bpffs"
local tracefs = require "spec.helpers.tracefs"

local W = bpfmap.BpfMapWrite.new
local quote = bpffs.quote

local COUNTER = "build/fixtures/counter.bpf.o"
local TOOLS = "build/tools/"
local N = 2000000          -- getpid calls per run
local KNOB_WRITES = 100000 -- at least this many BpfMapWrite stores in run 1
local RMW_ITERS = 100000   -- lookup + update rounds in run 2
local CACHE_LINE = 64

-- With BPFMAP_SPEC_VERBOSE set, the measured figures go to stderr.
local function note(fmt, ...)
  if os.getenv("BPFMAP_SPEC_VERBOSE") then
    io.stderr:write(string.format("concurrency_spec: " .. fmt .. "\n", ...))
  end
end

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

-- A helper's output file for a message ("" before it exists).
local function read_file(path)
  return bpffs.read_file(path) or ""
end

-- A helper process: its stdin is a pipe from us (closing it is how it is
-- told to finish, and what it sees if we die), its stdout and stderr go to
-- temporary files that we read line by line as they grow. Lua's io.popen is
-- one-way, hence the files. The shell adds a last line "exited STATUS", so
-- a child that dies is noticed at once rather than after a timeout.
local Child = {}
Child.__index = Child

local function spawn(cmd)
  local out, err = os.tmpname(), os.tmpname()
  local self = setmetatable({ cmd = cmd, out = out, err = err, buf = "", lines = {}, next = 1 }, Child)
  self.pipe = assert(io.popen(cmd .. " >" .. quote(out) .. " 2>" .. quote(err)
    .. '; s=$?; echo "exited $s" >>' .. quote(out) .. "; exit $s", "w"))
  self.reader = assert(io.open(out, "rb"))
  return self
end

-- Collect whatever complete lines the child has written so far.
function Child:poll()
  local chunk = self.reader:read("a") -- "" at the current end; reading again later sees more
  if chunk and #chunk > 0 then
    self.buf = self.buf .. chunk
    for line in self.buf:gmatch("([^\n]*)\n") do
      self.lines[#self.lines + 1] = line
    end
    self.buf = self.buf:match("[^\n]*$")
  end
end

-- The next line, or nil if none has come yet (never waits).
function Child:try_line()
  if not self.lines[self.next] then self:poll() end
  local line = self.lines[self.next]
  if line then self.next = self.next + 1 end
  return line
end

-- The next line, which must match `pattern`; returns its captures. Waits
-- up to `timeout` seconds, then raises with what the child said on stderr.
function Child:expect(pattern, timeout)
  local step = 0.01
  for _ = 0, math.ceil((timeout or 10) / step) do
    local line = self:try_line()
    if line then
      local caps = table.pack(line:match(pattern))
      if caps[1] == nil then
        error(string.format("%s: expected a line matching %q, got %q\nstderr: %s",
          self.cmd, pattern, line, read_file(self.err)), 2)
      end
      return table.unpack(caps, 1, caps.n)
    end
    sleep(step)
  end
  error(string.format("%s: no line matching %q within %gs\nstderr: %s",
    self.cmd, pattern, timeout or 10, read_file(self.err)), 2)
end

function Child:send(line)
  self.pipe:write(line, "\n")
  self.pipe:flush()
end

-- Close its stdin and wait for it to exit. Returns true, or false and why
-- (exit status and stderr). Idempotent.
function Child:close()
  if self.closed then return self.ok, self.why end
  self.closed = true
  local ok, how, code = self.pipe:close()
  self.reader:close()
  self.ok = ok == true
  if not self.ok then
    self.why = string.format("%s: %s %s\nstderr: %s", self.cmd, tostring(how),
      tostring(code), read_file(self.err))
  end
  os.remove(self.out)
  os.remove(self.err)
  return self.ok, self.why
end

-- Wait for "done T0 T1" (CLOCK_MONOTONIC ns) and a clean exit.
local function finish(child, timeout)
  local t0, t1 = child:expect("^done (%d+) (%d+)$", timeout)
  assert(child:close())
  return math.tointeger(t0), math.tointeger(t1)
end

local function int_at(bytes, off, fmt)
  return (string.unpack("<" .. fmt, bytes, off + 1))
end

priv.describe("concurrent programs #priv", function()
  local attach, prog, bss, map_ids, var, m

  setup(function()
    for _, tool in ipairs({ "attach", "fire_getpid", "rmw_writer" }) do
      assert(io.open(TOOLS .. tool), TOOLS .. tool .. " is missing: run `make test`"):close()
    end
    tracefs.ensure()
    attach = spawn(TOOLS .. "attach " .. quote(COUNTER))
    local progs, maps = {}, {}
    while true do
      local line = attach:expect("^.*$", 20)
      if line == "ready" then break end
      local kind, name, id = line:match("^(%a+) (%S+) (%d+)$")
      assert(kind, "attach said: " .. line .. "\nstderr: " .. read_file(attach.err))
      if kind == "prog" then progs[name] = math.tointeger(id) end
      if kind == "map" then maps[name] = math.tointeger(id) end
    end
    prog, bss = progs.count_getpid, maps["counter.bss"]
    map_ids = {}
    for _, id in pairs(maps) do map_ids[id] = true end
    assert(prog and bss, "attach did not report prog count_getpid and map counter.bss")
    var = bpfobj.var_offsets(bpfobj.map_show(bss).btf_id, ".bss")
    m = assert(bpfmap.MapData.from_id(bss))
  end)

  teardown(function()
    if m then m:close() end
    local ok, why = true, nil
    if attach then ok, why = attach:close() end
    -- The maps go once the attach process (their only other holder) has
    -- exited; the program holds the maps it uses, so it is gone before them.
    local gone, err = true, nil
    if map_ids then
      gone, err = pcall(bpfobj.wait_gone, map_ids, "counter maps still loaded after attach exited")
    end
    if gone and prog and os.execute("bpftool prog show id " .. prog .. " >/dev/null 2>&1") then
      gone, err = false, "program " .. prog .. " still loaded after attach exited"
    end
    assert(ok, why)
    assert(gone, err)
  end)

  -- A write narrowed to our program, as a script driving it would do.
  local function set(field, value)
    local report, err = W(".bss", field, value):apply({ prog = prog })
    assert.is_nil(err)
    assert.equal("mmap", report[1].method)
    assert.is_true(report[1].atomic)
    return report[1]
  end

  local function events()
    return int_at(bpfobj.map_bytes(bss), var.events, "i8")
  end

  -- Start fire_getpid N and aim the program at it; it waits for "go".
  local function start_firer()
    local firer = spawn(TOOLS .. "fire_getpid " .. N)
    local pid = math.tointeger(firer:expect("^pid (%d+)$"))
    set("target_tgid", pid)
    return firer, pid
  end

  local function reset_events()
    set("target_tgid", 0)
    set("events", 0)
    assert.equal(0, events())
  end

  it("the counter and the knobs share one cache line", function()
    -- the value of an mmapable array starts on a page boundary, so offsets
    -- in the value are offsets in the cache line
    assert.is_true(bpfobj.map_show(bss).flags & 0x400 ~= 0, "counter.bss is not BPF_F_MMAPABLE")
    local line = var.events // CACHE_LINE
    assert.equal(line, (var.events + 7) // CACHE_LINE)
    for _, field in ipairs({ "knob", "knob2" }) do
      local off = var[field]
      assert.equal(line, off // CACHE_LINE, field)
      assert.equal(line, (off + 3) // CACHE_LINE, field)
      assert.is_true(off + 4 <= var.events or off >= var.events + 8, field .. " overlaps events")
    end
    -- clang 14 lays .bss out as target_tgid, events, knob, knob2: knob is
    -- the very next word after the counter
    assert.equal(var.events + 8, var.knob)
  end)

  it("BpfMapWrite's stores to knob and knob2 lose none of the program's increments", function()
    reset_events()
    local firer = start_firer()
    finally(function() firer:close() end)

    -- Four writes in turn, knob and knob2 each flipping between two values.
    local A, B, C, D = 0x5a5a5a5a, 0xa5a5a5a5, 0x0f0f0f0f, 0xf0f0f0f0
    local ws = { W(".bss", "knob", A), W(".bss", "knob2", C), W(".bss", "knob", B), W(".bss", "knob2", D) }
    local first = assert(ws[3]:apply({ map = m }))[1] -- the warm path, with its report once
    assert.equal("mmap", first.method)
    assert.is_true(first.atomic)
    assert.equal(var.knob, first.offset)
    local opts = { map = m, report = false }

    -- Store from before "go" until the firer reports "done": every call it
    -- makes runs while this loop stores into the same cache line.
    local stores, done = 0, nil
    local deadline = os.time() + 30 -- should the firer die without "done"
    firer:send("go")
    repeat
      for i = 1, 1024 do
        assert(ws[(i & 3) + 1]:apply(opts))
      end
      stores = stores + 1024
      done = done or firer:try_line()
      if not done and os.time() > deadline then
        local _, why = firer:close()
        error("fire_getpid did not finish within 30 s: " .. tostring(why))
      end
    until done and stores >= KNOB_WRITES
    local t0, t1 = done:match("^done (%d+) (%d+)$")
    assert(t0, "fire_getpid said: " .. done .. "\nstderr: " .. read_file(firer.err))
    t0, t1 = math.tointeger(t0), math.tointeger(t1)
    assert(firer:close())
    set("target_tgid", 0)

    local bytes = bpfobj.map_bytes(bss)
    note("mmap stores: N=%d events=%d stores=%d firing %.3f s", N,
      int_at(bytes, var.events, "i8"), stores, (t1 - t0) / 1e9)
    assert.equal(N, int_at(bytes, var.events, "i8"))
    -- the last stores of the last round of 1024: i=1024 (ws[1]), i=1023 (ws[4])
    assert.equal(A, int_at(bytes, var.knob, "I4"))
    assert.equal(D, int_at(bytes, var.knob2, "I4"))
    assert.equal(0, int_at(bytes, var.target_tgid, "I4"))
  end)

  it("a read-modify-write of the whole value loses them", function()
    reset_events()
    local firer = start_firer()
    finally(function() firer:close() end)
    local writer = spawn(string.format("%srmw_writer %d %d %d", TOOLS, bss, var.knob, RMW_ITERS))
    finally(function() writer:close() end)
    writer:expect("^ready$")

    firer:send("go")
    writer:send("go")
    local w0, w1 = finish(writer, 30)
    local f0, f1 = finish(firer, 30)
    set("target_tgid", 0)

    local got = events()
    local overlap = math.min(f1, w1) - math.max(f0, w0)
    note("rmw: N=%d events=%d lost=%d rounds=%d firing %.3f s, rmw %.3f s, overlap %.3f s",
      N, got, N - got, RMW_ITERS, (f1 - f0) / 1e9, (w1 - w0) / 1e9, overlap / 1e9)
    assert.is_true(overlap > 0, "the firer and the writer did not run at the same time")
    assert.is_true(got < N, "no update lost: events = " .. got)
    assert.is_true(got > 0)
  end)
end)
