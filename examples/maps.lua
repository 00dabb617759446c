-- make demo, part 1: MapData.
-- Create a map, pin it in a private bpffs, reopen it from the pin and from
-- its id, and print what the kernel says about it.
local bpfmap = require "bpfmap"
local common = require "examples.common"

local dir, cleanup = common.private_bpffs()
local ok, err = pcall(function()
  local m <close> = assert(bpfmap.MapData.create({
    type = "array", key_size = 4, value_size = 8, max_entries = 16,
    flags = { "mmapable" },
  }, "demo_counts"))
  print("created   " .. tostring(m))

  local pin = dir .. "/demo_counts"
  assert(m:pin(pin))
  print("pinned at " .. pin)

  -- pinning twice is the kernel's refusal, not a raise: nil, message, errno
  local again, msg, errno = m:pin(pin)
  print(string.format("pin again -> %s, %q, EEXIST? %s", tostring(again), msg,
    tostring(errno == bpfmap.errno.EEXIST)))

  local by_pin <close> = assert(bpfmap.MapData.from_pin(pin))
  local by_id <close> = assert(bpfmap.MapData.from_id(m:id()))
  print("from_pin  " .. tostring(by_pin))
  print("from_id   " .. tostring(by_id))

  local info = by_id:info()
  print(string.format("info      id=%d name=%s type=%s key=%dB value=%dB max_entries=%d flags=%s frozen=%s",
    info.id, info.name, info.type, info.key_size, info.value_size, info.max_entries,
    table.concat(info.flag_names, ","), tostring(info.frozen)))

  local seen = false
  for i in bpfmap.loaded_maps() do
    if i.id == m:id() then seen = true end
  end
  print("listed by loaded_maps(): " .. tostring(seen))
end)
cleanup()
if not ok then error(err, 0) end
