-- Test helper: run the `bpfmap` command (bin/bpfmap) as a child lua5.4, with
-- the LUA_PATH/LUA_CPATH make test set, the way a user runs it.
local bpffs = require "spec.helpers.bpffs"
local luassert = require "luassert"

local quote = bpffs.quote

local M = {}

--- Run bpfmap with these arguments (each one shell word); returns its exit
-- status, stdout and stderr. A child killed by a signal fails the test.
function M.run(...)
  local words = {}
  for i, a in ipairs({ ... }) do words[i] = quote(a) end
  local errfile = os.tmpname()
  local p = assert(io.popen("lua5.4 bin/bpfmap " .. table.concat(words, " ") .. " 2>"
    .. quote(errfile), "r"))
  local out = p:read("a")
  local _, how, code = p:close()
  local err = assert(bpffs.read_file(errfile))
  os.remove(errfile)
  luassert.equal("exit", how)
  return code, out, err
end

return M
