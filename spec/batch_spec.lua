-- Batched element operations on a MapData (csrc/batch.c): lookup_batch,
-- update_batch, delete_batch, lookup_and_delete_batch, on array, hash,
-- lru_hash, percpu_array, percpu_hash, devmap (no batch commands: the
-- element-by-element fallback) and queue (refused) maps. bpftool is the
-- independent witness of what the map holds; strace of a child lua5.4 is
-- the witness of which bpf() commands were made.
--
-- Every map is named "bpfmapt_bat..." and closed after each test.
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)

local MapData = bpfmap.MapData
local E = bpfmap.errno
local sh, quote = bpffs.sh, bpffs.quote

---------------------------------------------------------------------------
-- utilities

local maps = require("spec.helpers.tracked").new("bpfmapt_bat")
local create, made_ids, close_all = maps.must_create, maps.ids, maps.close_all

local function u32(n) return string.pack("<I4", n) end
local function u64(n) return string.pack("<I8", n) end

-- bpftool's view of map `id`: { [key bytes] = value bytes, or a list of
-- per-CPU value bytes }, and the number of entries.
local bt_dump, ncpus = bpfobj.map_entries, bpfobj.ncpus

-- Two lists from lookup_batch as bpt_dump's table.
local function as_map(keys, values)
  assert.equal(#keys, #values)
  local t = {}
  for i, k in ipairs(keys) do
    assert.is_nil(t[k], "key listed twice")
    t[k] = values[i]
  end
  return t
end

local function assert_fail(msg, errno, ok, got_msg, got_errno, ...)
  assert.is_nil(ok)
  assert.equal(msg, got_msg)
  assert.equal(errno, got_errno)
  return ...
end

local function arg_err(n, fname, msg)
  return string.format("bad argument #%d to '%s' (%s)", n, fname, msg)
end

-- The value of key i in these tests: a string, or a list per CPU.
local function value_for(percpu, i)
  if not percpu then return u64(i * 1000 + 7) end
  local t = {}
  for c = 1, ncpus() do t[c] = u64(i * 1000 + c) end
  return t
end

local function fill(m, percpu, from, to)
  local ks, vs = {}, {}
  for i = from, to do
    ks[#ks + 1] = u32(i)
    vs[#vs + 1] = value_for(percpu, i)
  end
  assert.equal(#ks, m:update_batch(ks, vs))
  return ks, vs
end

-- Run `code` in a child lua5.4 under strace (bpf and openat) and return its
-- stdout and the bpf() lines of the trace; with a marker, only those after
-- the child opens the marker path (a path that does not exist).
local MARK = "/nonexistent/bpfmapt_bat_marker"
local function traced_child(code)
  local script = os.tmpname()
  local trace = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  local ok, out = pcall(sh, "strace -f -qq -e trace=bpf,openat -o " .. quote(trace)
    .. " lua5.4 " .. quote(script))
  local tf = io.open(trace, "r")
  local lines = tf and tf:read("a") or ""
  if tf then tf:close() end
  os.remove(script)
  os.remove(trace)
  if not ok then error(out, 2) end
  local all, after, seen = {}, {}, false
  for line in lines:gmatch("[^\n]+") do
    if line:find(MARK, 1, true) then
      seen = true
    elseif line:find("bpf(", 1, true) then
      all[#all + 1] = line
      if seen then after[#after + 1] = line end
    end
  end
  return out, all, after, seen
end

local function count_cmd(lines, cmd)
  local n = 0
  for _, l in ipairs(lines) do
    if l:find("bpf(" .. cmd .. ",", 1, true) then n = n + 1 end
  end
  return n
end

local function count_cmd_err(lines, cmd, errname)
  local n = 0
  for _, l in ipairs(lines) do
    if l:find("bpf(" .. cmd .. ",", 1, true) and l:find("= -1 " .. errname, 1, true) then
      n = n + 1
    end
  end
  return n
end

---------------------------------------------------------------------------

describe("batch operations", function()
  after_each(close_all)

  teardown(function()
    close_all()
    collectgarbage()
    if not priv.can_create_map() then return end
    bpfobj.wait_gone(made_ids, "maps created by batch_spec still present")
  end)

  -------------------------------------------------------------------------
  -- the same checks on every keyed map kind
  local kinds = {
    { type = "hash", percpu = false, deletes = true },
    { type = "lru_hash", percpu = false, deletes = true },
    { type = "percpu_hash", percpu = true, deletes = true },
    { type = "array", percpu = false, deletes = false },
    { type = "percpu_array", percpu = true, deletes = false },
  }

  for _, kind in ipairs(kinds) do
    -- hash maps far from full, so that an LRU map never evicts in these tests
    local def = { type = kind.type, key_size = 4, value_size = 8,
                  max_entries = kind.deletes and 1024 or 64 }

    describe(kind.type, function()
      priv.it("update_batch writes what bpftool reads back #priv", function()
        local m = create(def)
        local ks, vs = {}, {}
        for i = 1, 20 do
          ks[i] = u32(i * 3 % 64)
          vs[i] = value_for(kind.percpu, i)
        end
        assert.equal(20, m:update_batch(ks, vs))
        local dump = bt_dump(m:id())
        for i = 1, 20 do assert.same(vs[i], dump[ks[i]]) end
      end)

      priv.it("lookup_batch returns every entry bpftool lists, as two lists #priv", function()
        local m = create(def)
        fill(m, kind.percpu, 5, 40)
        local keys, values = m:lookup_batch()
        local dump, n = bt_dump(m:id())
        assert.equal(n, #keys)
        assert.equal(kind.deletes and 36 or 64, #keys)
        assert.same(dump, as_map(keys, values))
        if kind.percpu then
          assert.equal(ncpus(), #values[1])
          assert.equal(8, #values[1][1])
        end
      end)

      priv.it("lookup_batch with a small batch_size gives the same entries #priv", function()
        local m = create(def)
        fill(m, kind.percpu, 0, 63)
        local keys, values = m:lookup_batch({ batch_size = 3 })
        assert.equal(64, #keys)
        assert.same(bt_dump(m:id()), as_map(keys, values))
        -- batch_size above max_entries is taken as max_entries
        local k2, v2 = m:lookup_batch({ batch_size = 1 << 31 })
        assert.same(as_map(keys, values), as_map(k2, v2))
      end)

      priv.it("an empty list writes and deletes nothing #priv", function()
        local m = create(def)
        assert.equal(0, m:update_batch({}, {}))
        assert.equal(0, m:delete_batch({}))
      end)

      if kind.deletes then
        priv.it("delete_batch deletes, skipping keys the map does not hold #priv", function()
          local m = create(def)
          fill(m, kind.percpu, 1, 10)
          -- 99, 98 and the repeated 2 are not there (any more): skipped
          assert.equal(3, m:delete_batch({ u32(1), u32(99), u32(2), u32(98), u32(2), u32(3) }))
          local dump, n = bt_dump(m:id())
          assert.equal(7, n)
          assert.is_nil(dump[u32(1)])
          assert.is_nil(dump[u32(3)])
          assert.same(value_for(kind.percpu, 4), dump[u32(4)])
          assert.equal(0, m:delete_batch({ u32(1), u32(2) }))
        end)

        priv.it("lookup_and_delete_batch returns every entry and empties the map #priv", function()
          local m = create(def)
          fill(m, kind.percpu, 1, 30)
          local before = bt_dump(m:id())
          local keys, values = m:lookup_and_delete_batch()
          assert.equal(30, #keys)
          assert.same(before, as_map(keys, values))
          local _, n = bt_dump(m:id())
          assert.equal(0, n)
          local k2, v2 = m:lookup_and_delete_batch()
          assert.same({}, k2)
          assert.same({}, v2)
        end)
      else
        priv.it("delete_batch: nil, msg, EINVAL, 0, as the kernel refuses array deletes #priv", function()
          local m, name = create(def)
          fill(m, kind.percpu, 0, 3)
          local deleted = assert_fail(string.format(
            "delete_batch map '%s' (id %d), keys[1] (0 of 2 deleted before it): Invalid argument",
            name, m:id()), E.EINVAL, m:delete_batch({ u32(0), u32(1) }))
          assert.equal(0, deleted)
          assert.same(value_for(kind.percpu, 0), bt_dump(m:id())[u32(0)])
        end)

        priv.it("lookup_and_delete_batch: nil, msg, ENOTSUPP and nothing removed #priv", function()
          local m, name = create(def)
          fill(m, kind.percpu, 0, 3)
          local keys, values = assert_fail(string.format(
            "lookup_and_delete_batch map '%s' (id %d) (%s maps do not support it): "
            .. "Unknown error 524", name, m:id(), kind.type), E.ENOTSUPP,
            m:lookup_and_delete_batch())
          assert.same({}, keys)
          assert.same({}, values)
          assert.same(value_for(kind.percpu, 3), bt_dump(m:id())[u32(3)])
        end)
      end
    end)
  end

  -------------------------------------------------------------------------
  describe("update_batch flags and partial failures", function()
    local def = { type = "hash", key_size = 4, value_size = 8, max_entries = 16 }

    priv.it("noexist stops at an existing key: nil, msg, EEXIST, written #priv", function()
      local m, name = create(def)
      assert.is_true(m:update(u32(2), u64(222)))
      local written = assert_fail(string.format(
        "update_batch map '%s' (id %d), keys[2] (1 of 3 written before it): File exists",
        name, m:id()), E.EEXIST,
        m:update_batch({ u32(1), u32(2), u32(3) }, { u64(1), u64(2), u64(3) }, "noexist"))
      assert.equal(1, written)
      local dump, n = bt_dump(m:id())
      assert.equal(2, n)
      assert.equal(u64(1), dump[u32(1)])
      assert.equal(u64(222), dump[u32(2)])
    end)

    priv.it("exist only overwrites: ENOENT at the first missing key #priv", function()
      local m, name = create(def)
      fill(m, false, 1, 2)
      assert.equal(2, m:update_batch({ u32(1), u32(2) }, { u64(11), u64(12) }, "exist"))
      assert.same({ [u32(1)] = u64(11), [u32(2)] = u64(12) }, (bt_dump(m:id())))
      assert.equal(0, assert_fail(string.format(
        "update_batch map '%s' (id %d), keys[1] (0 of 1 written before it): "
        .. "No such file or directory", name, m:id()), E.ENOENT,
        m:update_batch({ u32(5) }, { u64(5) }, "exist")))
      assert.equal(1, m:update_batch({ u32(5) }, { u64(5) }, "any"))
    end)

    priv.it("lock on a map without a bpf_spin_lock: EINVAL, nothing written #priv", function()
      local m, name = create(def)
      assert.equal(0, assert_fail(string.format(
        "update_batch map '%s' (id %d), keys[1] (0 of 2 written before it): Invalid argument",
        name, m:id()), E.EINVAL, m:update_batch({ u32(1), u32(2) }, { u64(1), u64(2) }, "lock")))
      local _, n = bt_dump(m:id())
      assert.equal(0, n)
    end)

    priv.it("a full map: E2BIG naming the key, across several calls #priv", function()
      -- 7000 12-byte entries take two calls of at most 5461 (64 KiB)
      local m, name = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 6000 })
      local ks, vs = {}, {}
      for i = 1, 7000 do ks[i], vs[i] = u32(i), u64(i) end
      assert.equal(6000, assert_fail(string.format(
        "update_batch map '%s' (id %d), keys[6001] (6000 of 7000 written before it): "
        .. "Argument list too long", name, m:id()), E.E2BIG, m:update_batch(ks, vs)))
      local dump, n = bt_dump(m:id())
      assert.equal(6000, n)
      assert.equal(u64(6000), dump[u32(6000)])
      assert.is_nil(dump[u32(6001)])
    end)

    priv.it("a map userspace may not read (wronly): nil, msg, EPERM #priv", function()
      local m, name = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 16,
                               flags = { "wronly" } })
      assert.equal(2, m:update_batch({ u32(1), u32(2) }, { u64(1), u64(2) }))
      local tail = string.format(" map '%s' (id %d): Operation not permitted", name, m:id())
      assert_fail("lookup_batch" .. tail, E.EPERM, m:lookup_batch())
      local keys, values = assert_fail("lookup_and_delete_batch" .. tail, E.EPERM,
        m:lookup_and_delete_batch())
      assert.same({}, keys)
      assert.same({}, values)
      local _, n = bt_dump(m:id())
      assert.equal(2, n)
    end)

    priv.it("a frozen map: EPERM, nothing written #priv", function()
      local m, name = create(def)
      assert.is_true(m:freeze())
      assert.equal(0, assert_fail(string.format(
        "update_batch map '%s' (id %d), keys[1] (0 of 1 written before it): "
        .. "Operation not permitted", name, m:id()), E.EPERM,
        m:update_batch({ u32(1) }, { u64(1) })))
      assert.equal(0, assert_fail(string.format(
        "delete_batch map '%s' (id %d), keys[1] (0 of 1 deleted before it): "
        .. "Operation not permitted", name, m:id()), E.EPERM, m:delete_batch({ u32(1) })))
    end)
  end)

  -------------------------------------------------------------------------
  describe("the kernel's protocol", function()
    priv.it("a 100k-entry hash map is written and read through the batch commands #priv", function()
      local out, lines = traced_child([[
        local bpfmap = require "bpfmap"
        local m = assert(bpfmap.MapData.create({ type = "hash", key_size = 4, value_size = 8,
          max_entries = 100000 }, "bpfmapt_bat100k"))
        local ks, vs = {}, {}
        for i = 1, 100000 do ks[i] = string.pack("<I4", i); vs[i] = string.pack("<I8", i * 3) end
        assert(m:update_batch(ks, vs) == 100000)
        ks, vs = nil, nil
        local keys, values = m:lookup_batch()
        local seen = {}
        for i, k in ipairs(keys) do
          local n = string.unpack("<I4", k)
          assert(not seen[n] and string.unpack("<I8", values[i]) == n * 3)
          seen[n] = true
        end
        print(#keys, #values)
        m:close()
      ]])
      assert.equal("100000\t100000\n", out)
      -- 100000 x 12 bytes in calls of about 64 KiB: 19 each way
      local lookups = count_cmd(lines, "BPF_MAP_LOOKUP_BATCH")
      local updates = count_cmd(lines, "BPF_MAP_UPDATE_BATCH")
      assert.is_true(lookups >= 19 and lookups <= 40, "LOOKUP_BATCH calls: " .. lookups)
      assert.equal(19, updates)
      assert.equal(0, count_cmd(lines, "BPF_MAP_GET_NEXT_KEY"))
      assert.equal(0, count_cmd(lines, "BPF_MAP_LOOKUP_ELEM"))
      assert.equal(0, count_cmd(lines, "BPF_MAP_UPDATE_ELEM"))
      assert.is_true(#lines < 300, "bpf() calls: " .. #lines)
    end)

    priv.it("ENOSPC (a bucket larger than the batch) is retried with a larger batch #priv", function()
      local out, lines = traced_child([[
        local bpfmap = require "bpfmap"
        local m = assert(bpfmap.MapData.create({ type = "hash", key_size = 4, value_size = 8,
          max_entries = 2000 }, "bpfmapt_batnosp"))
        local ks, vs = {}, {}
        for i = 1, 2000 do ks[i] = string.pack("<I4", i); vs[i] = string.pack("<I8", i) end
        assert(m:update_batch(ks, vs) == 2000)
        local keys, values = m:lookup_batch({ batch_size = 1 })
        local sum = 0
        for i, k in ipairs(keys) do
          assert(k:sub(1, 4) == values[i]:sub(1, 4))
          sum = sum + string.unpack("<I4", k)
        end
        print(#keys, sum)
        m:close()
      ]])
      assert.equal("2000\t" .. (2000 * 2001 // 2) .. "\n", out)
      -- 2000 keys in 2048 buckets: some hold two or more, more than 1
      assert.is_true(count_cmd_err(lines, "BPF_MAP_LOOKUP_BATCH", "ENOSPC") >= 1)
      assert.equal(0, count_cmd(lines, "BPF_MAP_GET_NEXT_KEY"))
    end)

    priv.it("ENOSPC retries in lookup_and_delete_batch too, and empties the map #priv", function()
      local m = create({ type = "hash", key_size = 4, value_size = 8, max_entries = 512 })
      fill(m, false, 1, 512)
      local before = bt_dump(m:id())
      -- a child under strace does the call, so the trace shows that ENOSPC
      -- did happen and was retried; it prints the entries in hex
      local out, lines = traced_child(string.format([[
        local bpfmap = require "bpfmap"
        local m = assert(bpfmap.MapData.from_id(%d))
        local keys, values = assert(m:lookup_and_delete_batch({ batch_size = 1 }))
        local function hex(b) return (b:gsub(".", function(c) return string.format("%%02x", c:byte()) end)) end
        for i, k in ipairs(keys) do print(hex(k) .. " " .. hex(values[i])) end
        m:close()
      ]], m:id()))
      local function unhex(h) return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
      local keys, values = {}, {}
      for k, v in out:gmatch("(%x+) (%x+)\n") do
        keys[#keys + 1], values[#values + 1] = unhex(k), unhex(v)
      end
      assert.equal(512, #keys)
      assert.same(before, as_map(keys, values))
      local _, n = bt_dump(m:id())
      assert.equal(0, n)
      -- 512 keys in 512 buckets: some hold two or more, more than 1
      assert.is_true(count_cmd_err(lines, "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "ENOSPC") >= 1)
      assert.equal(0, count_cmd(lines, "BPF_MAP_GET_NEXT_KEY"))
      assert.equal(0, count_cmd(lines, "BPF_MAP_DELETE_ELEM"))
    end)
  end)

  -------------------------------------------------------------------------
  describe("element-by-element fallback (devmap has no batch commands)", function()
    local def = { type = "devmap", key_size = 4, value_size = 4, max_entries = 8 }
    -- a devmap value is an ifindex; 1 is the loopback device
    local lo = u32(1)

    priv.it("update_batch, lookup_batch and delete_batch give the batch results #priv", function()
      local m = create(def)
      assert.equal(3, m:update_batch({ u32(1), u32(4), u32(6) }, { lo, lo, lo }))
      local dump, n = bt_dump(m:id())
      assert.equal(3, n)
      assert.same({ [u32(1)] = lo, [u32(4)] = lo, [u32(6)] = lo }, dump)
      -- the unset slots (get_next_key lists them, lookup says ENOENT) are skipped
      local keys, values = m:lookup_batch()
      assert.same(dump, as_map(keys, values))
      assert.same({ u32(1), u32(4), u32(6) }, keys)
      -- deleting an unset devmap slot succeeds in the kernel (m:delete(u32(5))
      -- says true too), so it counts
      assert.equal(3, m:delete_batch({ u32(4), u32(5), u32(1) }))
      assert.same({ [u32(6)] = lo }, (bt_dump(m:id())))
    end)

    priv.it("a failure names the key and the count, as the batch path does #priv", function()
      local m, name = create(def)
      assert.is_true(m:update(u32(2), lo))
      -- a devmap has slots 0..max_entries-1 only
      assert.equal(1, assert_fail(string.format(
        "update_batch map '%s' (id %d), keys[2] (1 of 2 written before it): "
        .. "Argument list too long", name, m:id()), E.E2BIG,
        m:update_batch({ u32(1), u32(9) }, { lo, lo })))
      local keys, values = assert_fail(string.format(
        "lookup_and_delete_batch map '%s' (id %d) (devmap maps do not support it): "
        .. "Unknown error 524", name, m:id()), E.ENOTSUPP, m:lookup_and_delete_batch())
      assert.same({}, keys)
      assert.same({}, values)
      local _, n = bt_dump(m:id())
      assert.equal(2, n)
    end)

    priv.it("the missing batch command is learnt once per map type #priv", function()
      local out, lines = traced_child([[
        local bpfmap = require "bpfmap"
        local lo = string.pack("<I4", 1)
        local a = assert(bpfmap.MapData.create({ type = "devmap", key_size = 4, value_size = 4,
          max_entries = 4 }, "bpfmapt_batdva"))
        local b = assert(bpfmap.MapData.create({ type = "devmap", key_size = 4, value_size = 4,
          max_entries = 4 }, "bpfmapt_batdvb"))
        assert(a:update_batch({ string.pack("<I4", 0) }, { lo }) == 1)
        assert(b:update_batch({ string.pack("<I4", 2) }, { lo }) == 1)
        print(#a:lookup_batch(), #a:lookup_batch(), #b:lookup_batch())
        a:close(); b:close()
      ]])
      assert.equal("1\t1\t1\n", out)
      assert.equal(1, count_cmd(lines, "BPF_MAP_UPDATE_BATCH"))
      assert.equal(1, count_cmd(lines, "BPF_MAP_LOOKUP_BATCH"))
      assert.equal(2, count_cmd(lines, "BPF_MAP_UPDATE_ELEM"))
    end)
  end)

  -------------------------------------------------------------------------
  describe("refusals and bad input", function()
    local def = { type = "hash", key_size = 4, value_size = 8, max_entries = 16 }

    priv.it("a queue has no keys: every batch method raises #priv", function()
      local q, name = create({ type = "queue", key_size = 0, value_size = 4, max_entries = 4 })
      local calls = {
        lookup_batch = function() q:lookup_batch() end,
        lookup_and_delete_batch = function() q:lookup_and_delete_batch() end,
        update_batch = function() q:update_batch({}, {}) end,
        delete_batch = function() q:delete_batch({}) end,
      }
      for method, call in pairs(calls) do
        assert.has_error(call, string.format(
          "calling '%s' on bad self (map '%s' (id %d) is a queue map, which has no keys; "
          .. "use push, pop and peek, not %s)", method, name, q:id(), method))
      end
    end)

    priv.it("keys and values: wrong lengths and types raise naming the entry #priv", function()
      local m = create(def)
      local f = "update_batch"
      assert.has_error(function() m:update_batch({ u32(1), "abc" }, { u64(1), u64(2) }) end,
        arg_err(1, f, "keys[2] must be 4 bytes, got 3"))
      assert.has_error(function() m:update_batch({ u32(1), 7 }, { u64(1), u64(2) }) end,
        arg_err(1, f, "keys[2] must be a string of 4 bytes, got number"))
      assert.has_error(function() m:update_batch({ u32(1), u32(2) }, { u64(1), u32(2) }) end,
        arg_err(2, f, "values[2] must be 8 bytes, got 4"))
      assert.has_error(function() m:update_batch({ u32(1) }, { false }) end,
        arg_err(2, f, "values[1] must be a string of 8 bytes, got boolean"))
      assert.has_error(function() m:delete_batch({ u32(1), u64(2) }) end,
        arg_err(1, "delete_batch", "keys[2] must be 4 bytes, got 8"))
      -- the first entry was good, but nothing was written
      local _, n = bt_dump(m:id())
      assert.equal(0, n)
    end)

    priv.it("lists: unequal lengths, non-lists and non-tables raise #priv", function()
      local m = create(def)
      local f = "update_batch"
      assert.has_error(function() m:update_batch({ u32(1), u32(2) }, { u64(1) }) end,
        arg_err(2, f, "values must have as many entries as keys (2), got 1"))
      assert.has_error(function() m:update_batch({ u32(1) }, { u64(1), u64(2) }) end,
        arg_err(2, f, "values must have as many entries as keys (1), got 2"))
      assert.has_error(function() m:update_batch({ a = u32(1) }, {}) end,
        arg_err(1, f, "keys must be a list, not a table keyed by a"))
      assert.has_error(function() m:update_batch({}, { [2] = u64(2) }) end,
        arg_err(2, f, "values must be a list, not a table keyed by 2"))
      assert.has_error(function() m:update_batch(u32(1), { u64(1) }) end,
        arg_err(1, f, "keys must be a list of strings, got string"))
      assert.has_error(function() m:update_batch({ u32(1) }) end,
        arg_err(2, f, "values must be a list of strings, got no value"))
      assert.has_error(function() m:delete_batch(nil) end,
        arg_err(1, "delete_batch", "keys must be a list of strings, got nil"))
      assert.has_error(function() m:delete_batch({ [0] = u32(1) }) end,
        arg_err(1, "delete_batch", "keys must be a list, not a table keyed by 0"))
    end)

    priv.it("bad flags raise #priv", function()
      local m = create(def)
      assert.has_error(function() m:update_batch({ u32(1) }, { u64(1) }, "sometimes") end,
        arg_err(3, "update_batch", "invalid option 'sometimes'"))
      assert.has_error(function() m:update_batch({ u32(1) }, { u64(1) }, 2) end,
        arg_err(3, "update_batch", "invalid option '2'"))
      assert.has_error(function() m:update_batch({ u32(1) }, { u64(1) }, {}) end,
        arg_err(3, "update_batch", "string expected, got table"))
    end)

    priv.it("per-CPU values must be lists of one string per possible CPU #priv", function()
      local m = create({ type = "percpu_hash", key_size = 4, value_size = 8, max_entries = 4 })
      local n, f = ncpus(), "update_batch"
      local good = value_for(true, 1)
      local short = {}
      for c = 1, n - 1 do short[c] = u64(c) end
      local bad_len = value_for(true, 1)
      bad_len[n] = "x"
      assert.has_error(function() m:update_batch({ u32(1), u32(2) }, { good, u64(1) }) end,
        arg_err(2, f, string.format(
          "values[2] must be a list of %d strings (one per possible CPU), got string", n)))
      assert.has_error(function() m:update_batch({ u32(1) }, { short }) end,
        arg_err(2, f, string.format(
          "values[1] must be a list of %d strings (one per possible CPU), got %d", n, n - 1)))
      assert.has_error(function() m:update_batch({ u32(1) }, { bad_len }) end,
        arg_err(2, f, string.format("values[1][%d] must be 8 bytes, got 1", n)))
      assert.has_error(function() m:update_batch({ u32(1) }, { { x = u64(1) } }) end,
        arg_err(2, f, "values[1] must be a list of strings, not a table keyed by x"))
      local _, count = bt_dump(m:id())
      assert.equal(0, count)
    end)

    priv.it("lookup options: batch_size an integer >= 1, nothing unknown #priv", function()
      local m = create(def)
      local methods = {
        lookup_batch = function(opts) return m:lookup_batch(opts) end,
        lookup_and_delete_batch = function(opts) return m:lookup_and_delete_batch(opts) end,
      }
      for f, call in pairs(methods) do
        assert.has_error(function() call({ batch_size = 0 }) end,
          arg_err(1, f, "field 'batch_size' must be in 1..4294967295, got 0"))
        assert.has_error(function() call({ batch_size = -3 }) end,
          arg_err(1, f, "field 'batch_size' must be in 1..4294967295, got -3"))
        assert.has_error(function() call({ batch_size = 1 << 32 }) end,
          arg_err(1, f, "field 'batch_size' must be in 1..4294967295, got 4294967296"))
        assert.has_error(function() call({ batch_size = 1.5 }) end,
          arg_err(1, f, "field 'batch_size' must be an integer, got 1.5"))
        assert.has_error(function() call({ batch_size = "8" }) end,
          arg_err(1, f, "field 'batch_size' must be an integer, got string"))
        assert.has_error(function() call({ size = 8 }) end,
          arg_err(1, f, "unknown option 'size'"))
        assert.has_error(function() call({ 8 }) end,
          arg_err(1, f, "unknown option '1'"))
        assert.has_error(function() call(8) end,
          arg_err(1, f, "table expected, got number"))
      end
      -- an integral float is an integer
      local keys = m:lookup_batch({ batch_size = 4.0 })
      assert.same({}, keys)
    end)

    priv.it("a closed MapData raises in every batch method, with no syscall #priv", function()
      local m = create(def)
      m:close()
      local msg = "attempt to use a closed MapData"
      assert.has_error(function() m:lookup_batch() end, msg)
      assert.has_error(function() m:lookup_and_delete_batch() end, msg)
      assert.has_error(function() m:update_batch({ u32(1) }, { u64(1) }) end, msg)
      assert.has_error(function() m:update_batch("bad", 1, "bad") end, msg)
      assert.has_error(function() m:delete_batch({ u32(1) }) end, msg)

      local out, _, after, seen = traced_child([[
        local bpfmap = require "bpfmap"
        local m = assert(bpfmap.MapData.create({ type = "hash", key_size = 4, value_size = 8,
          max_entries = 4 }, "bpfmapt_batcls"))
        local open = assert(bpfmap.MapData.create({ type = "hash", key_size = 4,
          value_size = 8, max_entries = 4 }, "bpfmapt_batbad"))
        m:close()
        io.open("]] .. MARK .. [[")
        local raised = 0
        local calls = {
          function() m:lookup_batch() end,
          function() m:lookup_and_delete_batch() end,
          function() m:update_batch({ "aaaa" }, { "bbbbbbbb" }) end,
          function() m:delete_batch({ "aaaa" }) end,
          -- a caller's mistake raises before any syscall too
          function() open:update_batch({ "aaaa", "bbb" }, { "12345678", "12345678" }) end,
          function() open:update_batch({ "aaaa" }, { "12345678" }, "bad") end,
          function() open:delete_batch({ "aaaa", 1 }) end,
          function() open:lookup_batch({ batch_size = 0 }) end,
        }
        for _, f in ipairs(calls) do
          if not pcall(f) then raised = raised + 1 end
        end
        print(raised)
        os.exit(0)
      ]])
      assert.equal("8\n", out)
      assert.is_true(seen, "the child's marker was not traced")
      assert.same({}, after)
    end)
  end)
end)
