-- Runs the pure-C unit tests (tests/test_names.c, tests/test_btf_path.c) that
-- `make test` builds, so a failure there fails the busted run too.  Each
-- program prints "N passed, N failed" and exits non-zero on a failure.
local TESTS = { "build/tests/test_names", "build/tests/test_btf_path" }

-- Run cmd, return its combined output and exit code.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  if ok then return out, 0 end
  return out, how == "signal" and 128 + code or code
end

local exists = require("spec.helpers.bpffs").exists

describe("C unit tests", function()
  setup(function()
    -- `make test` builds them first; build here when busted runs alone.
    local missing = {}
    for _, t in ipairs(TESTS) do
      if not exists(t) then missing[#missing + 1] = t end
    end
    if #missing > 0 then
      local out, code = run("make " .. table.concat(missing, " "))
      assert(code == 0, "building the C unit tests failed:\n" .. out)
    end
  end)

  for _, t in ipairs(TESTS) do
    it(t .. " passes", function()
      local out, code = run(t)
      assert(code == 0, t .. " exited " .. tostring(code) .. ":\n" .. out)
      local passed, failed = out:match("(%d+) passed, (%d+) failed%s*$")
      assert(passed, t .. " printed no final 'N passed, N failed' line:\n" .. out)
      assert(tonumber(failed) == 0 and tonumber(passed) > 0, t .. ":\n" .. out)
    end)
  end
end)
