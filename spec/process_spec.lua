-- bpfmap.Signal (the write-done signal) and bpfmap.spawn (child processes),
-- on real pipes, sockets and processes.
local bpfmap = require "bpfmap"
local priv = require("spec.helpers.priv").bind(_ENV)
local sync = require "spec.helpers.sync"
local E = bpfmap.errno
local monotonic = require("bpfmap.core").monotonic

-- A child Lua with bpfmap on its path (the Makefile exports LUA_PATH/CPATH).
local function lua_child(code, opts)
  return assert(bpfmap.spawn({ "lua5.4", "-e", code }, opts))
end

-- The child waits on the descriptor named by $FD and prints the outcome.
local WAITER = [[
  local bpfmap = require "bpfmap"
  local sig = assert(bpfmap.Signal.from_fd(math.tointeger(tonumber(os.getenv("FD")))))
  local ok, msg, errno = sig:wait(tonumber(os.getenv("T") or "10"))
  io.write(tostring(ok), "|", tostring(msg), "|", tostring(errno), "\n")
]]

local function waiter_child(sig, extra_env)
  local env = { FD = sig:fd() }
  for k, v in pairs(extra_env or {}) do env[k] = v end
  return lua_child(WAITER, { inherit = { sig:fd() }, env = env })
end

local function is_zombie_or_gone(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return "gone" end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") == "Z" and "zombie" or "alive"
end

local function fds_of_child(opts)
  local p = assert(bpfmap.spawn({ "sh", "-c", "ls /proc/$$/fd" }, opts))
  local st = p:wait(10)
  local fds = {}
  for n in st.stdout:gmatch("%d+") do fds[math.tointeger(tonumber(n))] = true end
  return fds
end

describe("Signal", function()
  it("raise: every wait returns true, again and again, through any handle", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local other <close> = assert(bpfmap.Signal.from_fd(sig:fd()))
    assert.equals("Signal fd " .. sig:fd() .. ": pending", tostring(sig))
    assert.is_true(sig:raise())
    assert.is_true(sig:wait(1))
    assert.is_true(sig:wait())
    assert.is_true(other:wait(0))
    assert.is_true(other:wait(0))
    assert.equals("Signal fd " .. sig:fd() .. ": raised", tostring(sig))
  end)

  it("fail: every waiter gets the reason, as one line, errno ECANCELED", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local other <close> = assert(bpfmap.Signal.from_fd(sig:fd()))
    assert.is_true(sig:fail("no field 'crash'\nin map x"))
    for _, s in ipairs({ sig, other, sig, other }) do
      local ok, msg, errno = s:wait(1)
      assert.is_nil(ok)
      assert.equals("write-done signal failed: no field 'crash' in map x", msg)
      assert.equals(E.ECANCELED, errno)
    end
    assert.matches("failed: no field 'crash' in map x", tostring(other))
  end)

  it("times out with ETIMEDOUT after about the timeout", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local t0 = monotonic()
    local ok, msg, errno = sig:wait(0.2)
    local took = monotonic() - t0
    assert.is_nil(ok)
    assert.equals("wait for write-done signal: timed out after 0.2s", msg)
    assert.equals(E.ETIMEDOUT, errno)
    -- the upper bound is loose (a loaded machine, valgrind): it catches a
    -- unit mistake, 0.2 taken as ms or as 200 s, not a slow wake-up
    assert.is_true(took >= 0.19 and took < 10, "took " .. took)
    -- still pending: a later raise is seen
    assert.is_true(sig:raise())
    assert.is_true(sig:wait(0))
  end)

  it("a writer gone without an outcome is a failure, not a hang", function()
    local sig = assert(bpfmap.Signal.new())
    local waiter <close> = assert(bpfmap.Signal.from_fd(sig:fd()))
    sig:close()
    local ok, msg, errno = waiter:wait(5)
    assert.is_nil(ok)
    assert.matches("writer closed without an outcome", msg)
    assert.equals(E.ECANCELED, errno)
  end)

  it("a child whose parent died is woken with the failure (EOF with no line)", function()
    local out = os.tmpname()
    -- The middle process makes the signal, starts a waiter on it and exits
    -- without raising: only the kernel closes the writer's end.
    local middle = lua_child(string.format([[
      local bpfmap = require "bpfmap"
      local sig = assert(bpfmap.Signal.new())
      assert(bpfmap.spawn({ "sh", "-c", 'lua5.4 -e "$W" > %s' },
        { inherit = { sig:fd() }, env = { FD = sig:fd(), W = %q }, capture = false }))
      os.exit(7, false)
    ]], out, WAITER))
    assert.equals(7, middle:wait(10).code)
    local ok, text = pcall(sync.wait_line, out, "the orphaned waiter's line in " .. out)
    os.remove(out)
    assert(ok, text)
    assert.matches("^nil|write%-done signal failed: its writer closed without an outcome.*|"
      .. E.ECANCELED .. "\n$", text)
  end)

  it("many waiters, in this process and in children, see one outcome", function()
    for _, outcome in ipairs({ "raise", "fail" }) do
      local sig <close> = assert(bpfmap.Signal.new())
      local children = {}
      for i = 1, 4 do children[i] = waiter_child(sig, { T = "120" }) end
      local local_waiters = {}
      for i = 1, 3 do local_waiters[i] = assert(bpfmap.Signal.from_fd(sig:fd())) end
      for i, p in ipairs(children) do
        sync.wait_blocked_in_poll(p:pid(), "child " .. i .. " blocked in Signal:wait")
      end
      if outcome == "raise" then sig:raise() else sig:fail("boom") end
      local want = outcome == "raise" and "true|nil|nil\n"
        or ("nil|write-done signal failed: boom|" .. E.ECANCELED .. "\n")
      for _, p in ipairs(children) do
        local st = p:wait(10)
        assert.equals(0, st.code, st.stderr)
        assert.equals(want, st.stdout)
      end
      for _, w in ipairs(local_waiters) do
        local ok, msg = w:wait(1)
        if outcome == "raise" then assert.is_true(ok) else assert.equals("write-done signal failed: boom", msg) end
        w:close()
      end
    end
  end)

  it("a child blocks until the raise: it finishes after it, not before", function()
    local sig <close> = assert(bpfmap.Signal.new())
    -- its own timeout is far beyond anything this process takes to raise
    local p = waiter_child(sig, { T = "120" })
    local st, msg, errno = p:wait(0.3)
    assert.is_nil(st)
    assert.equals(E.ETIMEDOUT, errno, msg)
    sig:raise()
    st = p:wait(60)
    assert.equals("true|nil|nil\n", st.stdout)
  end)

  it("a wait returns on a signal, so Ctrl-C stops a Lua script blocked in it", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local dir <close> = sync.tempdir()
    local ready = dir:file("ready")
    -- no timeout: only the interrupt can end this wait. The ready file says
    -- the -e chunk runs, so lua.c's SIGINT handler is in place (before it, a
    -- SIGINT kills the interpreter outright).
    local p <close> = lua_child(string.format([[
      local sig = assert(require("bpfmap").Signal.from_fd(%d))
      assert(io.open(%q, "w")):close()
      sig:wait()
    ]], sig:fd(), ready), { inherit = { sig:fd() } })
    sync.wait_file(ready, "child running its chunk")
    -- and the signal must find it inside the wait's poll(), not before it
    sync.wait_blocked_in_poll(p:pid(), "child blocked in Signal:wait")
    assert.is_true(p:kill("INT"))
    local st = assert(p:wait(10))
    -- lua.c's SIGINT handler makes the interpreter raise as soon as the
    -- wait returned to Lua (a wait that retried poll() would hang here)
    assert.equals(1, st.code)
    assert.matches("interrupted!", st.stderr)
  end)

  it("a child's own timeout gives ETIMEDOUT there", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local st = waiter_child(sig, { T = "0.1" }):wait(10)
    assert.equals("nil|wait for write-done signal: timed out after 0.1s|" .. E.ETIMEDOUT .. "\n", st.stdout)
  end)

  it("descriptors are close-on-exec: a child sees the read end only when inherited", function()
    local sig <close> = assert(bpfmap.Signal.new())
    assert.is_nil(fds_of_child()[sig:fd()])
    assert.is_true(fds_of_child({ inherit = { sig:fd() } })[sig:fd()])
    -- and inheriting does not clear the flag in this process
    assert.is_nil(fds_of_child()[sig:fd()])
  end)

  it("caller's mistakes raise: closed handle, second raise, raise on a waiter, bad arguments", function()
    local sig = assert(bpfmap.Signal.new())
    local waiter <close> = assert(bpfmap.Signal.from_fd(sig:fd()))
    assert.has_error(function() waiter:raise() end, "Signal:raise: this Signal only waits (made by from_fd)")
    sig:raise()
    assert.has_error(function() sig:raise() end, "Signal:raise: already raised")
    assert.has_error(function() sig:fail("x") end, "Signal:fail: already raised")
    assert.has_error(function() sig:wait(-1) end, "bad argument #1 to 'wait' (timeout must be in 0..1e9 seconds, got -1)")
    assert.has_error(function() sig:wait("1") end, "bad argument #1 to 'wait' (timeout must be a number of seconds, got string)")
    assert.is_true(sig:close())
    assert.is_true(sig:close())
    assert.equals("Signal (closed)", tostring(sig))
    for _, m in ipairs({ "raise", "wait", "fd" }) do
      assert.has_error(function() sig[m](sig) end, "attempt to use a closed Signal")
    end
    assert.has_error(function() sig:fail("x") end, "attempt to use a closed Signal")
    assert.has_error(function() bpfmap.Signal.from_fd("3") end, "bad argument #1 to 'from_fd' (fd must be an integer, got string)")
    assert.has_error(function() bpfmap.Signal.from_fd(-1) end, "bad argument #1 to 'from_fd' (fd must be in 0..2147483647, got -1)")
  end)

  it("from_fd of a closed descriptor is EBADF", function()
    local ok, msg, errno = bpfmap.Signal.from_fd(1000000)
    assert.is_nil(ok)
    assert.equals("Signal.from_fd 1000000: Bad file descriptor", msg)
    assert.equals(E.EBADF, errno)
  end)

  priv.it("from_fd of a descriptor that is no socket or pipe is EINVAL", function()
    local m <close> = assert(bpfmap.MapData.create(
      { type = "array", key_size = 4, value_size = 4, max_entries = 1 }, "bpfmapt_scn_fd"))
    local ok, msg, errno = bpfmap.Signal.from_fd(m:fd())
    assert.is_nil(ok)
    assert.equals("Signal.from_fd " .. m:fd() .. ": not a socket or pipe, so not a write-done signal", msg)
    assert.equals(E.EINVAL, errno)
  end)

  it("from_fd on a plain pipe reads the outcome", function()
    local st = assert(bpfmap.spawn({ "sh", "-c", 'printf "fail from a shell\\n" | lua5.4 -e "$W"' },
      { env = { W = WAITER, FD = 0 } })):wait(10)
    assert.equals("nil|write-done signal failed: from a shell|" .. E.ECANCELED .. "\n", st.stdout)
    -- a line cut short, then the writer gone: a failure with what came
    st = assert(bpfmap.spawn({ "sh", "-c", 'printf "fail half" | lua5.4 -e "$W"' },
      { env = { W = WAITER, FD = 0 } })):wait(10)
    assert.equals("nil|write-done signal failed: half|" .. E.ECANCELED .. "\n", st.stdout)
    -- nothing yet: the wait times out rather than blocking in read(). The
    -- writer keeps the pipe open, silent, until the reader has finished
    -- (it would otherwise be "writer closed without an outcome").
    local dir <close> = sync.tempdir()
    st = assert(bpfmap.spawn({ "sh", "-c", '(i=0; while [ ! -e "$D" ] && [ $i -lt 6000 ]; '
      .. 'do i=$((i+1)); sleep 0.01; done) | { lua5.4 -e "$W"; touch "$D"; }' },
      { env = { W = WAITER, FD = 0, T = "0.2", D = dir:file("done") } })):wait(60)
    assert.equals("nil|wait for write-done signal: timed out after 0.2s|" .. E.ETIMEDOUT .. "\n", st.stdout)
  end)
end)

describe("spawn", function()
  it("reports the exit code and captures stdout and stderr apart", function()
    local p <close> = assert(bpfmap.spawn({ "sh", "-c", "echo out; echo err >&2; exit 3" }))
    assert.matches("^Process %d+ %(sh%): running$", tostring(p))
    local st = p:wait(10)
    assert.same({ pid = p:pid(), code = 3, stdout = "out\n", stderr = "err\n" }, st)
    assert.equals("Process " .. p:pid() .. " (sh): exited 3", tostring(p))
    -- waiting again gives the same status
    assert.same(st, p:wait())
  end)

  it("reports a death by signal", function()
    local st = assert(bpfmap.spawn({ "sh", "-c", "kill -9 $$" })):wait(10)
    assert.is_nil(st.code)
    assert.equals(9, st.signal)
  end)

  it("adds and replaces environment variables, keeping the rest", function()
    local st = assert(bpfmap.spawn({ "sh", "-c", 'echo "$FOO|$N|$HOME|${PATH:+path}"' },
      { env = { FOO = "bar baz", N = 5, HOME = "/nowhere" } })):wait(10)
    assert.equals("bar baz|5|/nowhere|path\n", st.stdout)
  end)

  it("inherits stdout and stderr with capture = false", function()
    local st = assert(bpfmap.spawn({ "true" }, { capture = false })):wait(10)
    assert.same({ pid = st.pid, code = 0 }, st)
  end)

  it("reads output while waiting, so a child writing megabytes never blocks", function()
    local st = assert(bpfmap.spawn({ "sh", "-c", "head -c 3000000 /dev/zero; head -c 100000 /dev/zero >&2" })):wait(30)
    assert.equals(0, st.code)
    assert.equals(3000000, #st.stdout)
    assert.equals(100000, #st.stderr)
  end)

  it("a child's pipes and pidfd are close-on-exec: a second child does not get them", function()
    local function count(t) local n = 0; for _ in pairs(t) do n = n + 1 end; return n end
    local alone = count(fds_of_child())
    local p <close> = assert(bpfmap.spawn({ "sleep", "30" }))
    local sig <close> = assert(bpfmap.Signal.new())
    assert.equals(alone, count(fds_of_child()))
  end)

  it("passes listed descriptors at the same number", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local other <close> = assert(bpfmap.Signal.new())
    local fds = fds_of_child({ inherit = { sig:fd(), other:fd() } })
    assert.is_true(fds[sig:fd()])
    assert.is_true(fds[other:fd()])
  end)

  it("times out with ETIMEDOUT and leaves the child running; kill ends it", function()
    local p <close> = assert(bpfmap.spawn({ "sleep", "30" }))
    local t0 = monotonic()
    local st, msg, errno = p:wait(0.2)
    assert.is_true(monotonic() - t0 >= 0.19)
    assert.is_nil(st)
    assert.equals("wait for pid " .. p:pid() .. " (sleep): timed out after 0.2s", msg)
    assert.equals(E.ETIMEDOUT, errno)
    assert.equals("alive", is_zombie_or_gone(p:pid()))
    assert.is_true(p:kill())
    assert.equals(15, p:wait(10).signal)
    local ok, kmsg, kerr = p:kill("KILL")
    assert.is_nil(ok)
    assert.equals("kill pid " .. p:pid() .. " (sleep): it has exited and been reaped", kmsg)
    assert.equals(E.ESRCH, kerr)
  end)

  it("kill takes a signal name or number", function()
    local p = assert(bpfmap.spawn({ "sleep", "30" }))
    assert.is_true(p:kill("INT"))
    assert.equals(2, p:wait(10).signal)
    p = assert(bpfmap.spawn({ "sleep", "30" }))
    assert.is_true(p:kill(9))
    assert.equals(9, p:wait(10).signal)
    assert.has_error(function() p:kill("BOGUS") end, "bad argument #1 to 'kill' (invalid option 'BOGUS')")
  end)

  it("a missing program is ENOENT", function()
    local p, msg, errno = bpfmap.spawn({ "bpfmapt_scn_no_such_program" })
    assert.is_nil(p)
    assert.equals("spawn 'bpfmapt_scn_no_such_program': No such file or directory", msg)
    assert.equals(E.ENOENT, errno)
  end)

  it("finds programs by path as execvp does; a file that is not executable is EACCES", function()
    local st = assert(bpfmap.spawn({ "/bin/sh", "-c", "exit 4" })):wait(10)
    assert.equals(4, st.code)
    local file = os.tmpname()   -- mode 0600: no execute bit for anyone, root included
    local p, msg, errno = bpfmap.spawn({ file })
    os.remove(file)
    assert.is_nil(p)
    assert.equals("spawn '" .. file .. "': Permission denied", msg)
    assert.equals(E.EACCES, errno)
    p, msg, errno = bpfmap.spawn({ "./bpfmapt_scn_no_such_program" })
    assert.is_nil(p)
    assert.equals("spawn './bpfmapt_scn_no_such_program': No such file or directory", msg)
    assert.equals(E.ENOENT, errno)
  end)

  it("an inherited descriptor that is not open is EBADF, before starting anything", function()
    local p, msg, errno = bpfmap.spawn({ "true" }, { inherit = { 1000000 } })
    assert.is_nil(p)
    assert.equals("spawn 'true': inherit descriptor 1000000: Bad file descriptor", msg)
    assert.equals(E.EBADF, errno)
  end)

  it("leaves no zombie or stray child: __gc and __close kill and reap", function()
    local pid
    do
      local p = assert(bpfmap.spawn({ "sleep", "30" }))
      pid = p:pid()
    end
    collectgarbage()
    collectgarbage()
    assert.equals("gone", is_zombie_or_gone(pid))
    do
      local p <close> = assert(bpfmap.spawn({ "sleep", "30" }))
      pid = p:pid()
    end
    assert.equals("gone", is_zombie_or_gone(pid))
    -- an exited, never-waited child is reaped too
    do
      local p = assert(bpfmap.spawn({ "true" }))
      pid = p:pid()
      sync.wait_zombie(pid, "child `true` exited")
      assert.equals("zombie", is_zombie_or_gone(pid))
      p:close()
    end
    assert.equals("gone", is_zombie_or_gone(pid))
  end)

  it("a closed Process raises on use", function()
    local p = assert(bpfmap.spawn({ "true" }))
    assert.is_true(p:close())
    assert.is_true(p:close())
    assert.equals("Process (closed)", tostring(p))
    for _, m in ipairs({ "pid", "wait", "kill" }) do
      assert.has_error(function() p[m](p) end, "attempt to use a closed Process")
    end
  end)

  it("raises for the caller's mistakes before starting anything", function()
    local cases = {
      { { "ls" }, nil, "bad argument #1 to 'spawn' (table expected, got string)", "ls" },
      { {}, nil, "bad argument #1 to 'spawn' (argv must name a program (it is empty))" },
      { { "ls", 3 }, nil, "bad argument #1 to 'spawn' (argv[2] must be a string, got number)" },
      { { "ls\0x" }, nil, "bad argument #1 to 'spawn' (argv[1] has an embedded NUL)" },
      { { "ls" }, { bogus = 1 }, "bad argument #2 to 'spawn' (unknown option 'bogus')" },
      { { "ls" }, { capture = 1 }, "bad argument #2 to 'spawn' (capture must be a boolean, got number)" },
      { { "ls" }, { inherit = 3 }, "bad argument #2 to 'spawn' (inherit must be a list of descriptors, got number)" },
      { { "ls" }, { inherit = { -1 } }, "bad argument #2 to 'spawn' (inherit[1] must be a descriptor (0..2147483647), got -1)" },
      { { "ls" }, { inherit = { "3" } }, "bad argument #2 to 'spawn' (inherit[1] must be a descriptor (0..2147483647), got 3)" },
      { { "ls" }, { env = { ["A=B"] = "x" } }, "bad argument #2 to 'spawn' (env name 'A=B' is empty or has '=' or NUL)" },
      { { "ls" }, { env = { A = true } }, "bad argument #2 to 'spawn' (env value of 'A' must be a string or integer, got boolean)" },
      { { "ls" }, { env = { [1] = "x" } }, "bad argument #2 to 'spawn' (env keys must be variable names, got number)" },
    }
    for _, c in ipairs(cases) do
      local argv = c[4] or c[1]
      assert.has_error(function() bpfmap.spawn(argv, c[2]) end, c[3])
    end
  end)
end)
