-- Test helper: the maps a spec creates, tracked so that after_each can close
-- every one and teardown can check (bpfobj.wait_gone(t.ids, ...)) that the
-- kernel freed them all.  Functions are closures, so a spec can take them as
-- locals: local maps = tracked.new(); local keep, close_all = maps.keep, maps.close_all
-- (or tracked.new("bpfmapt_bat") for names a spec's maps can be told by).
local MapData = require("bpfmap").MapData

local M = {}

local counter = 0

local function digits_for(prefix, level)
  local digits = math.max(4, 14 - #prefix)
  if #prefix + digits > 15 then
    error("map name prefix too long for 4 unique digits: " .. prefix, level + 1)
  end
  return digits
end

-- A fresh map name: `prefix` (default "bpfmapt_") plus hex digits, random
-- but for the last two (a counter), so that concurrent runs of the suite do
-- not collide: 14 bytes for the default, at least 4 digits for a longer
-- prefix, never more than the 15 bytes the kernel keeps.
function M.uniq(prefix)
  prefix = prefix or "bpfmapt_"
  local random_digits = digits_for(prefix, 2) - 2
  counter = counter + 1
  return string.format("%s%0" .. random_digits .. "x%02x", prefix,
    math.random(0, (1 << (4 * random_digits)) - 1), counter % 256)
end

-- A tracker whose fresh names start with `prefix` (see uniq).
function M.new(prefix)
  if prefix then digits_for(prefix, 2) end
  local t = { handles = {}, ids = {} }
  function t.uniq() return M.uniq(prefix) end

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
    return t.keep(MapData.create(def, name or t.uniq(), btf_fd))
  end

  -- The same, raising with the kernel's message when it refuses; returns
  -- the map and the name it was given.
  function t.must_create(def, name, btf_fd)
    name = name or t.uniq()
    local m, msg = t.create(def, name, btf_fd)
    assert(m, msg)
    return m, name
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
