-- Timeouts at the edge of what process.c takes: sig:wait and p:wait accept
-- up to 1e9 s, far more milliseconds than poll()'s int timeout holds.  They
-- must wait as long as it takes and return when the event comes, neither at
-- once nor never (a cast past INT_MAX was undefined: on x86 INT_MIN, which
-- poll() takes for "forever"; `make test-asan` flags such a cast).
local bpfmap = require "bpfmap"
local monotonic = require("bpfmap.core").monotonic

describe("timeouts past poll()'s int milliseconds", function()
  it("sig:wait(1e9) returns the outcome, through either handle", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local other <close> = assert(bpfmap.Signal.from_fd(sig:fd()))
    assert.is_true(sig:raise())
    assert.is_true(other:wait(1e9))
    assert.is_true(sig:wait(1e9))
    assert.is_true(other:wait(2.2e6))   -- just past INT_MAX ms
  end)

  it("sig:wait(1e9) in a child waits for a raise that comes later", function()
    local sig <close> = assert(bpfmap.Signal.new())
    local p = assert(bpfmap.spawn({ "lua5.4", "-e", [[
      local bpfmap = require "bpfmap"
      local sig = assert(bpfmap.Signal.from_fd(math.tointeger(tonumber(os.getenv("FD")))))
      io.write(tostring(sig:wait(1e9)), "\n")
    ]] }, { inherit = { sig:fd() }, env = { FD = sig:fd() } }))
    os.execute("sleep 0.2")
    assert.is_true(sig:raise())
    local st = assert(p:wait(10))
    assert.same({ pid = p:pid(), code = 0, stdout = "true\n", stderr = "" }, st)
  end)

  it("p:wait(1e9) waits for the child's exit", function()
    local p = assert(bpfmap.spawn({ "sh", "-c", "sleep 0.2; exit 5" }))
    local t0 = monotonic()
    local st = assert(p:wait(1e9))
    assert.equal(5, st.code)
    assert.is_true(monotonic() - t0 >= 0.15)
  end)
end)
