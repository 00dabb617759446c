-- The rockspec builds and installs bpfmap with luarocks' builtin backend
-- into a throwaway tree, and the installed module loads from there alone.
-- It builds a copy of the sources, since builtin builds leave objects in
-- the tree they build.
local priv = require("spec.helpers.priv").bind(_ENV)
local bpffs = require "spec.helpers.bpffs"
local sh, quote = bpffs.sh, bpffs.quote

priv.describe("rockspec #priv", function()
  local tmp

  setup(function()
    tmp = sh("mktemp -d /tmp/bpfmaprockXXXXXX"):gsub("%s+$", "")
    sh("cp -r csrc lua bin rockspec " .. quote(tmp .. "/"))
  end)
  teardown(function()
    if tmp then sh("rm -rf " .. quote(tmp)) end
  end)

  it("installs with luarocks make into a --tree and loads from it", function()
    local tree = tmp .. "/tree"
    sh("cd " .. quote(tmp) .. " && luarocks --lua-version=5.4 make --tree "
      .. quote(tree) .. " rockspec/bpfmap-scm-1.rockspec")
    -- only the tree on the paths: the build directory must not be what loads
    local script = tmp .. "/load.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      local tree = ...
      package.path = tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua"
      package.cpath = tree .. "/lib/lua/5.4/?.so"
      local bpfmap = require "bpfmap"
      local m = assert(bpfmap.MapData.create({ type = "array", key_size = 4,
        value_size = 8, max_entries = 1 }, "bpfmapt_rock"))
      io.write(package.searchpath("bpfmap.core", package.cpath), "\n", m:info().name, "\n")
      m:close()
    ]])
    f:close()
    local out = sh("env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 lua5.4 "
      .. quote(script) .. " " .. quote(tree))
    assert.equal(tree .. "/lib/lua/5.4/bpfmap/core.so\nbpfmapt_rock\n", out)
  end)
end)
