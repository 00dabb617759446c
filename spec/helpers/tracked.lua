-- Test helper: the maps a spec creates, tracked so that after_each can close
-- every one and teardown can check (bpfobj.wait_gone(t.ids, ...)) that the
-- kernel freed them all.  Functions are closures, so a spec can take them as
-- locals: local maps = tracked.new(); local keep, close_all = maps.keep, maps.close_all
local MapData = require("bpfmap").MapData

local M = {}

local counter = 0
-- A fresh map name: "bpfmapt_" plus 6 hex digits, 14 bytes (the kernel
-- keeps 15).  Random so that concurrent runs of the suite do not collide.
function M.uniq()
  counter = counter + 1
  return string.format("bpfmapt_%04x%02x", math.random(0, 0xffff), counter % 256)
end

function M.new()
  local t = { handles = {}, ids = {}, uniq = M.uniq }

  -- Track m (MapData.create's first result) and pass every result through.
  function t.keep(m, ...)
    if m then
      t.handles[#t.handles + 1] = m
      t.ids[m:id()] = true
    end
    return m, ...
  end

  -- MapData.create, named uniquely unless a name is given: m or nil, msg, errno.
  function t.create(def, name, btf_fd)
    return t.keep(MapData.create(def, name or M.uniq(), btf_fd))
  end

  -- The same, raising with the kernel's message when it refuses.
  function t.must_create(def, name, btf_fd)
    local m, msg = t.create(def, name, btf_fd)
    assert(m, msg)
    return m
  end

  -- Close in reverse order of creation; ids stay for teardown's check.
  function t.close_all()
    for i = #t.handles, 1, -1 do
      t.handles[i]:close()
      t.handles[i] = nil
    end
  end

  return t
end

return M
