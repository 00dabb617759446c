-- bpfmap as an unprivileged user: argument errors raise exactly as for
-- root (they come before any syscall), and what the kernel refuses comes
-- back as nil, message, EPERM, or as a raised message from the
-- loaded_maps() iterator.  Runs a child as nobody with every capability
-- dropped (setpriv), so it needs root to start but tests the unprivileged
-- path.
local priv = require("spec.helpers.priv").bind(_ENV)

describe("without privilege #priv", function()
  it("returns EPERM for what the kernel refuses, and raises for mistakes", function()
    local out, why = priv.run_unprivileged([[
      local bpfmap = require "bpfmap"
      local m, err, errno = bpfmap.MapData.create({ type = "array", key_size = 4,
        value_size = 4, max_entries = 1 }, "bpfmapt_nopriv")
      print("create", m, errno == bpfmap.errno.EPERM, err)
      print("from_id", select(3, bpfmap.MapData.from_id(1)) == bpfmap.errno.EPERM)
      print("list_maps", select(3, bpfmap.list_maps()) == bpfmap.errno.EPERM)
      print("loaded_maps", pcall(function() for _ in bpfmap.loaded_maps() do end end))
      print("raise", pcall(bpfmap.MapData.from_id, -1))
      print("write", pcall(bpfmap.BpfMapWrite.new, "bss", "x", 1))
    ]])
    if not out then pending(why) end
    assert.matches("create\tnil\ttrue\tcreate array map 'bpfmapt_nopriv': Operation not permitted %(the process has neither CAP_BPF nor CAP_SYS_ADMIN%)", out)
    assert.matches("from_id\ttrue", out)
    assert.matches("list_maps\ttrue", out)
    assert.matches("loaded_maps\tfalse\tloaded_maps: next map id after 0: Operation not permitted %(needs CAP_SYS_ADMIN, which the process lacks%)", out)
    assert.matches("raise\tfalse\t.*id must be in 0%.%.4294967295, got %-1", out)
    assert.matches("write\tfalse\t.*map_name_suffix must start with '%.'", out)
  end)
end)
