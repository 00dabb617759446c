-- Element operations on a MapData (csrc/elements.c): lookup, update,
-- delete, lookup_and_delete, next_key, pairs, freeze, and push/pop/peek,
-- on array, hash, lru_hash, percpu_array, percpu_hash, queue, stack and
-- bloom_filter maps. bpftool is the independent witness of the bytes.
--
-- Every map is named "bpfmapt_..." and closed after each test.
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local priv = require("spec.helpers.priv").bind(_ENV)
local json = require "dkjson"

local MapData = bpfmap.MapData
local E = bpfmap.errno
local sh = bpffs.sh
local ncpus = bpfobj.ncpus

---------------------------------------------------------------------------
-- utilities

local maps = require("spec.helpers.tracked").new()
local create, made_ids, close_all = maps.must_create, maps.ids, maps.close_all

local function u32(n) return string.pack("<I4", n) end
local function u64(n) return string.pack("<I8", n) end

local bt_lookup, bt_update = bpfobj.lookup, bpfobj.update

local function bt_count(id)
  return #assert(bpfobj.map_dump(id))
end

-- The value at the front of a queue (or top of a stack), or nil if empty.
local function bt_peek(id)
  local out = sh("bpftool map peek id " .. math.tointeger(id) .. " -j 2>/dev/null || true")
  local obj = json.decode(out)
  if type(obj) ~= "table" or obj.error then return nil end
  return bpfobj.bytes(obj.value)
end

local function assert_fail(msg, errno, ok, got_msg, got_errno, ...)
  assert.is_nil(ok)
  assert.equal(msg, got_msg)
  assert.equal(errno, got_errno)
  assert.equal(0, select("#", ...))
end

-- Exactly one nil, no message.
local function assert_lone_nil(...)
  assert.equal(1, select("#", ...))
  assert.is_nil((...))
end

local function arg_err(n, fname, msg)
  return string.format("bad argument #%d to '%s' (%s)", n, fname, msg)
end

local function self_err(fname, msg)
  return string.format("calling '%s' on bad self (%s)", fname, msg)
end

local function hash_def(extra)
  local def = { type = "hash", key_size = 4, value_size = 8, max_entries = 16 }
  for k, v in pairs(extra or {}) do def[k] = v end
  return def
end

local function array_def(extra)
  local def = { type = "array", key_size = 4, value_size = 8, max_entries = 4 }
  for k, v in pairs(extra or {}) do def[k] = v end
  return def
end

---------------------------------------------------------------------------

describe("element operations", function()
  after_each(close_all)

  teardown(function()
    close_all()
    collectgarbage()
    if not priv.can_create_map() then return end
    bpfobj.wait_gone(made_ids, "maps created by elements_spec still present")
  end)

  -------------------------------------------------------------------------
  describe("array", function()
    priv.it("lookup reads what bpftool wrote, and zeros where nothing was #priv", function()
      local m = create(array_def())
      assert.equal(u64(0), m:lookup(u32(2)))
      bt_update(m:id(), u32(2), u64(0x1122334455667788))
      assert.equal(u64(0x1122334455667788), m:lookup(u32(2)))
    end)

    priv.it("update writes what bpftool reads #priv", function()
      local m = create(array_def())
      assert.is_true(m:update(u32(3), u64(42)))
      assert.equal(u64(42), bt_lookup(m:id(), u32(3)))
      assert.is_true(m:update(u32(3), u64(43), "exist"))
      assert.equal(u64(43), bt_lookup(m:id(), u32(3)))
    end)

    priv.it("a key past max_entries is missing: lookup gives a lone nil #priv", function()
      local m = create(array_def())
      assert_lone_nil(m:lookup(u32(4)))
    end)

    priv.it("update noexist: every array element exists #priv", function()
      local m, name = create(array_def())
      assert_fail(string.format("update map '%s' (id %d): File exists", name, m:id()),
        E.EEXIST, m:update(u32(0), u64(1), "noexist"))
      assert.equal(u64(0), bt_lookup(m:id(), u32(0)))
    end)

    priv.it("delete is refused by the kernel #priv", function()
      local m, name = create(array_def())
      assert_fail(string.format("delete map '%s' (id %d): Invalid argument", name, m:id()),
        E.EINVAL, m:delete(u32(0)))
    end)

    priv.it("next_key walks 0..max_entries-1, then nil #priv", function()
      local m = create(array_def())
      assert.equal(u32(0), m:next_key())
      assert.equal(u32(0), m:next_key(nil))
      assert.equal(u32(1), m:next_key(u32(0)))
      assert.equal(u32(3), m:next_key(u32(2)))
      assert_lone_nil(m:next_key(u32(3)))
    end)

    priv.it("pairs sees every element with its value #priv", function()
      local m = create(array_def())
      bt_update(m:id(), u32(1), u64(11))
      m:update(u32(2), u64(22))
      local seen = {}
      for k, v in m:pairs() do seen[#seen + 1] = { (string.unpack("<I4", k)), (string.unpack("<I8", v)) } end
      assert.same({ { 0, 0 }, { 1, 11 }, { 2, 22 }, { 3, 0 } }, seen)
    end)

    priv.it("freeze: bpftool sees it frozen, and updates are refused #priv", function()
      local m, name = create(array_def())
      assert.is_true(m:freeze())
      assert.equal(1, bpfobj.map_show(m:id()).frozen)
      assert_fail(string.format("update map '%s' (id %d): Operation not permitted", name, m:id()),
        E.EPERM, m:update(u32(0), u64(1)))
      -- a frozen map is no longer writable from userspace, which is what
      -- the kernel checks first when asked to freeze it again
      assert_fail(string.format("freeze map '%s' (id %d): Operation not permitted", name, m:id()),
        E.EPERM, m:freeze())
      assert.equal(u64(0), m:lookup(u32(0)))
    end)
  end)

  -------------------------------------------------------------------------
  describe("hash", function()
    priv.it("update any/noexist/exist, as bpftool sees them #priv", function()
      local m, name = create(hash_def())
      local prefix = string.format("update map '%s' (id %d): ", name, m:id())
      assert_fail(prefix .. "No such file or directory", E.ENOENT,
        m:update(u32(7), u64(1), "exist"))
      assert.is_nil(bt_lookup(m:id(), u32(7)))
      assert.is_true(m:update(u32(7), u64(1), "noexist"))
      assert.equal(u64(1), bt_lookup(m:id(), u32(7)))
      assert_fail(prefix .. "File exists", E.EEXIST, m:update(u32(7), u64(2), "noexist"))
      assert.equal(u64(1), bt_lookup(m:id(), u32(7)))
      assert.is_true(m:update(u32(7), u64(3), "exist"))
      assert.equal(u64(3), bt_lookup(m:id(), u32(7)))
      assert.is_true(m:update(u32(7), u64(4)))
      assert.is_true(m:update(u32(8), u64(5), "any"))
      assert.equal(u64(4), bt_lookup(m:id(), u32(7)))
      assert.equal(u64(5), bt_lookup(m:id(), u32(8)))
    end)

    priv.it("update lock on a value without a bpf_spin_lock is refused #priv", function()
      local m, name = create(hash_def())
      assert_fail(string.format("update map '%s' (id %d): Invalid argument", name, m:id()),
        E.EINVAL, m:update(u32(1), u64(1), "lock"))
    end)

    priv.it("lookup: what bpftool wrote; a missing key is a lone nil #priv", function()
      local m = create(hash_def())
      bt_update(m:id(), u32(9), "abcdefgh")
      assert.equal("abcdefgh", m:lookup(u32(9)))
      assert_lone_nil(m:lookup(u32(10)))
    end)

    priv.it("update takes binary keys and values with NULs #priv", function()
      local m = create(hash_def())
      assert.is_true(m:update("\0\1\0\255", "\0\0\0\0\0\0\0\1"))
      assert.equal("\0\0\0\0\0\0\0\1", bt_lookup(m:id(), "\0\1\0\255"))
    end)

    priv.it("delete: gone for bpftool; a missing key is ENOENT #priv", function()
      local m, name = create(hash_def())
      bt_update(m:id(), u32(1), u64(1))
      assert.is_true(m:delete(u32(1)))
      assert.is_nil(bt_lookup(m:id(), u32(1)))
      assert.equal(0, bt_count(m:id()))
      assert_fail(string.format("delete map '%s' (id %d): No such file or directory", name, m:id()),
        E.ENOENT, m:delete(u32(1)))
    end)

    priv.it("lookup_and_delete returns the value and removes it #priv", function()
      local m = create(hash_def())
      bt_update(m:id(), u32(1), u64(77))
      bt_update(m:id(), u32(2), u64(78))
      assert.equal(u64(77), m:lookup_and_delete(u32(1)))
      assert.is_nil(bt_lookup(m:id(), u32(1)))
      assert.equal(u64(78), bt_lookup(m:id(), u32(2)))
      assert_lone_nil(m:lookup_and_delete(u32(1)))
    end)

    priv.it("next_key: first, each once, then a lone nil; empty map gives nil #priv", function()
      local m = create(hash_def())
      assert_lone_nil(m:next_key())
      for i = 1, 5 do bt_update(m:id(), u32(i), u64(i)) end
      local seen, k, n = {}, m:next_key(), 0
      while k do
        local i = string.unpack("<I4", k)
        assert.is_nil(seen[i])
        seen[i] = true
        n = n + 1
        k = m:next_key(k)
      end
      assert.equal(5, n)
      -- a key the map does not hold: the kernel starts over
      assert.equal(m:next_key(), m:next_key(u32(99)))
    end)

    priv.it("pairs over 1000 entries sees each once with its value #priv", function()
      local m = create(hash_def({ max_entries = 1000 }))
      for i = 1, 1000 do assert(m:update(u32(i), u64(i * 3))) end
      assert.equal(1000, bt_count(m:id()))
      local seen, n = {}, 0
      for k, v in m:pairs() do
        local i = string.unpack("<I4", k)
        assert.is_nil(seen[i], "key " .. i .. " seen twice")
        assert.equal(i * 3, (string.unpack("<I8", v)))
        seen[i] = true
        n = n + 1
      end
      assert.equal(1000, n)
    end)

    priv.it("pairs skips a key deleted mid-walk #priv", function()
      local m = create(hash_def({ max_entries = 64 }))
      for i = 1, 50 do m:update(u32(i), u64(i)) end
      local seen, n, victim = {}, 0, nil
      for k in m:pairs() do
        local i = string.unpack("<I4", k)
        assert.is_nil(seen[i], "key " .. i .. " seen twice")
        assert.are_not.equal(victim, i)
        seen[i] = true
        n = n + 1
        if n == 10 then
          -- delete the key the walk would come to next, and one further on
          local nk = m:next_key(k)
          victim = string.unpack("<I4", nk)
          assert.is_true(m:delete(nk))
        end
      end
      assert.equal(49, n)
      assert.is_nil(seen[victim])
    end)

    priv.it("pairs steps over the empty slots of a devmap and a prog_array #priv", function()
      -- their get_next_key lists every index, but an empty slot's lookup is
      -- ENOENT: asking again after the previous key would loop forever
      for _, t in ipairs({ "devmap", "prog_array" }) do
        local m = create({ type = t, key_size = 4, value_size = 4, max_entries = 8 })
        local n = 0
        for _ in m:pairs() do n = n + 1 end
        assert.equal(0, n, t)
      end
      local dev = create({ type = "devmap", key_size = 4, value_size = 4, max_entries = 8 })
      assert.is_true(dev:update(u32(5), u32(1)))   -- ifindex 1: lo
      local keys = {}
      for k, v in dev:pairs() do keys[#keys + 1] = string.unpack("<I4", k) .. "=" .. string.unpack("<I4", v) end
      assert.same({ "5=1" }, keys)
    end)

    priv.it("pairs on an empty map runs no iteration #priv", function()
      local m = create(hash_def())
      for _ in m:pairs() do error("an iteration") end
    end)

    priv.it("a map closed mid-walk makes pairs raise #priv", function()
      local m = create(hash_def())
      m:update(u32(1), u64(1))
      m:update(u32(2), u64(2))
      assert.has_error(function()
        for _ in m:pairs() do m:close() end
      end, "attempt to use a closed MapData")
    end)

    priv.it("a map userspace may not read (wronly): nil, msg, EPERM; pairs raises #priv", function()
      local m, name = create(hash_def({ flags = { "wronly" } }))
      assert.is_true(m:update(u32(1), u64(1)))
      local tail = string.format(" map '%s' (id %d): Operation not permitted", name, m:id())
      assert_fail("lookup" .. tail, E.EPERM, m:lookup(u32(1)))
      assert_fail("next_key" .. tail, E.EPERM, m:next_key())
      assert.has_error(function()
        for _ in m:pairs() do end
      end, "pairs (next_key) over" .. tail)
    end)
  end)

  -------------------------------------------------------------------------
  describe("lru_hash", function()
    priv.it("update, lookup, delete, pairs, as bpftool sees them #priv", function()
      local m = create(hash_def({ type = "lru_hash", max_entries = 128 }))
      assert.is_true(m:update(u32(1), u64(10)))
      bt_update(m:id(), u32(2), u64(20))
      assert.equal(u64(10), bt_lookup(m:id(), u32(1)))
      assert.equal(u64(20), m:lookup(u32(2)))
      local n = 0
      for _ in m:pairs() do n = n + 1 end
      assert.equal(2, n)
      assert.is_true(m:delete(u32(1)))
      assert.is_nil(bt_lookup(m:id(), u32(1)))
      assert_lone_nil(m:lookup(u32(1)))
      assert.equal(u64(20), m:lookup_and_delete(u32(2)))
      assert.equal(0, bt_count(m:id()))
    end)
  end)

  -------------------------------------------------------------------------
  describe("per-CPU", function()
    local N = ncpus()

    local function list(fn)
      local t = {}
      for i = 1, N do t[i] = fn(i) end
      return t
    end

    priv.it("percpu_array: lookup gives one value_size string per possible CPU #priv", function()
      -- value_size 4: the kernel pads each CPU's value to 8 bytes
      local m = create({ type = "percpu_array", key_size = 4, value_size = 4, max_entries = 2 })
      assert.same(list(function() return u32(0) end), m:lookup(u32(1)))
      assert.is_true(m:update(u32(1), list(function(i) return u32(100 + i) end)))
      assert.same(list(function(i) return u32(100 + i) end), bt_lookup(m:id(), u32(1)))
      assert.same(list(function(i) return u32(100 + i) end), m:lookup(u32(1)))
      assert.same(list(function() return u32(0) end), bt_lookup(m:id(), u32(0)))
      bt_update(m:id(), u32(0), u32(5))   -- bpftool writes the same to every CPU
      assert.same(list(function() return u32(5) end), m:lookup(u32(0)))
      for k, v in m:pairs() do
        assert.equal(4, #k)
        assert.equal(N, #v)
      end
    end)

    priv.it("percpu_hash: update, lookup, lookup_and_delete, missing is nil #priv", function()
      local m = create({ type = "percpu_hash", key_size = 4, value_size = 8, max_entries = 8 })
      assert_lone_nil(m:lookup(u32(1)))
      assert.is_true(m:update(u32(1), list(function(i) return u64(i) end), "noexist"))
      assert.same(list(function(i) return u64(i) end), bt_lookup(m:id(), u32(1)))
      assert.same(list(function(i) return u64(i) end), m:lookup_and_delete(u32(1)))
      assert.is_nil(bt_lookup(m:id(), u32(1)))
    end)

    priv.it("lru_percpu_hash: update and lookup #priv", function()
      local m = create({ type = "lru_percpu_hash", key_size = 4, value_size = 2, max_entries = 8 })
      assert.is_true(m:update(u32(3), list(function(i) return string.pack("<I2", i) end)))
      assert.same(list(function(i) return string.pack("<I2", i) end), m:lookup(u32(3)))
      assert.same(list(function(i) return string.pack("<I2", i) end), bt_lookup(m:id(), u32(3)))
    end)

    priv.it("a value that is not a list of ncpus value_size strings raises #priv", function()
      local m = create({ type = "percpu_array", key_size = 4, value_size = 4, max_entries = 2 })
      local want = string.format("value must be a list of %d strings (one per possible CPU)", N)
      local short, long, bad, wrongtype = {}, {}, {}, {}
      for i = 1, N - 1 do short[i] = u32(i) end
      for i = 1, N + 1 do long[i] = u32(i) end
      for i = 1, N do bad[i] = u32(i); wrongtype[i] = u32(i) end
      bad[N] = "abc"
      wrongtype[N] = 7
      assert.has_error(function() m:update(u32(0), u32(1)) end,
        arg_err(2, "update", want .. ", got string"))
      assert.has_error(function() m:update(u32(0), short) end,
        arg_err(2, "update", want .. ", got " .. (N - 1)))
      assert.has_error(function() m:update(u32(0), long) end,
        arg_err(2, "update", want .. ", got " .. (N + 1)))
      assert.has_error(function() m:update(u32(0), bad) end,
        arg_err(2, "update", "value[" .. N .. "] must be 4 bytes, got 3"))
      assert.has_error(function() m:update(u32(0), wrongtype) end,
        arg_err(2, "update", "value[" .. N .. "] must be a string of 4 bytes, got number"))
      local holey = list(function(i) return u32(i) end)
      holey.x = u32(0)
      assert.has_error(function() m:update(u32(0), holey) end,
        arg_err(2, "update", "value must be a list of strings, not a table keyed by x"))
      assert.same(list(function() return u32(0) end), bt_lookup(m:id(), u32(0)))
    end)
  end)

  -------------------------------------------------------------------------
  describe("queue, stack, bloom_filter", function()
    local function qdef(t, extra)
      local def = { type = t, key_size = 0, value_size = 4, max_entries = 3 }
      for k, v in pairs(extra or {}) do def[k] = v end
      return def
    end

    priv.it("queue: push in order, as bpftool peeks; pop FIFO; empty gives a lone nil #priv", function()
      local m = create(qdef("queue"))
      assert_lone_nil(m:pop())
      assert_lone_nil(m:peek())
      assert.is_true(m:push("aaaa"))
      assert.equal("aaaa", bt_peek(m:id()))
      assert.is_true(m:push("bbbb"))
      sh("bpftool map push id " .. m:id() .. " value hex 63 63 63 63")
      assert.equal("aaaa", m:peek())
      assert.equal("aaaa", m:pop())
      assert.equal("bbbb", bt_peek(m:id()))
      assert.equal("bbbb", m:pop())
      assert.equal("cccc", m:pop())
      assert_lone_nil(m:pop())
      assert.is_nil(bt_peek(m:id()))
    end)

    priv.it("queue full: push fails with E2BIG; push 'exist' drops the oldest #priv", function()
      local m, name = create(qdef("queue", { max_entries = 2 }))
      m:push("aaaa")
      m:push("bbbb")
      assert_fail(string.format("push to map '%s' (id %d): Argument list too long", name, m:id()),
        E.E2BIG, m:push("cccc"))
      assert.is_true(m:push("cccc", "exist"))
      assert.equal("bbbb", m:pop())
      assert.equal("cccc", m:pop())
    end)

    priv.it("stack: pop LIFO #priv", function()
      local m = create(qdef("stack"))
      m:push("aaaa")
      m:push("bbbb")
      assert.equal("bbbb", bt_peek(m:id()))
      assert.equal("bbbb", m:peek())
      assert.equal("bbbb", m:pop())
      assert.equal("aaaa", m:pop())
      assert_lone_nil(m:pop())
      assert_lone_nil(m:peek())
    end)

    priv.it("bloom_filter: push, then peek(value) tests membership #priv", function()
      local m = create(qdef("bloom_filter", { max_entries = 64, map_extra = 3 }))
      assert.is_false(m:peek("abcd"))
      assert.is_true(m:push("abcd"))
      assert.is_true(m:peek("abcd"))
      assert.has_error(function() m:peek("abc") end,
        arg_err(1, "peek", "value must be 4 bytes, got 3"))
    end)

    priv.it("key operations on a keyless map, and push/pop/peek on a keyed one, raise #priv", function()
      local q, qname = create(qdef("queue"))
      local h, hname = create(hash_def())
      local qmsg = string.format("map '%s' (id %d) is a queue map, which has no keys; "
        .. "use push, pop and peek, not ", qname, q:id())
      assert.has_error(function() q:lookup("") end, self_err("lookup", qmsg .. "lookup"))
      assert.has_error(function() q:update("", "aaaa") end, self_err("update", qmsg .. "update"))
      assert.has_error(function() q:delete("") end, self_err("delete", qmsg .. "delete"))
      assert.has_error(function() q:next_key() end, self_err("next_key", qmsg .. "next_key"))
      assert.has_error(function() q:pairs() end, self_err("pairs", qmsg .. "pairs"))
      local hmsg = string.format("map '%s' (id %d) is a hash map; ", hname, h:id())
      assert.has_error(function() h:push(u64(1)) end,
        self_err("push", hmsg .. "push needs a queue, stack or bloom_filter map"))
      assert.has_error(function() h:pop() end, self_err("pop", hmsg .. "pop needs a queue or stack map"))
      assert.has_error(function() h:peek() end, self_err("peek", hmsg .. "peek needs a queue or stack map"))
      assert.is_nil(bt_peek(q:id()))
    end)

    priv.it("push checks its value and flag #priv", function()
      local m = create(qdef("queue"))
      assert.has_error(function() m:push("aaa") end, arg_err(1, "push", "value must be 4 bytes, got 3"))
      assert.has_error(function() m:push(1234) end,
        arg_err(1, "push", "value must be a string of 4 bytes, got number"))
      assert.has_error(function() m:push() end,
        arg_err(1, "push", "value must be a string of 4 bytes, got no value"))
      assert.has_error(function() m:push("aaaa", "sometimes") end,
        arg_err(2, "push", "invalid option 'sometimes'"))
      assert.is_nil(bt_peek(m:id()))
    end)
  end)

  -------------------------------------------------------------------------
  describe("bad input raises before any syscall", function()
    priv.it("keys of the wrong length or type #priv", function()
      local m = create(hash_def())
      local cases = {
        { "lookup", function(k) return m:lookup(k) end },
        { "delete", function(k) return m:delete(k) end },
        { "lookup_and_delete", function(k) return m:lookup_and_delete(k) end },
        { "next_key", function(k) return m:next_key(k) end },
        { "update", function(k) return m:update(k, u64(1)) end },
      }
      for _, c in ipairs(cases) do
        local name, fn = c[1], c[2]
        assert.has_error(function() fn("abc") end, arg_err(1, name, "key must be 4 bytes, got 3"))
        assert.has_error(function() fn("abcde") end, arg_err(1, name, "key must be 4 bytes, got 5"))
        assert.has_error(function() fn("") end, arg_err(1, name, "key must be 4 bytes, got 0"))
        assert.has_error(function() fn(1) end,
          arg_err(1, name, "key must be a string of 4 bytes, got number"))
        assert.has_error(function() fn({}) end,
          arg_err(1, name, "key must be a string of 4 bytes, got table"))
        if name ~= "next_key" then
          assert.has_error(function() fn(nil) end,
            arg_err(1, name, "key must be a string of 4 bytes, got nil"))
        end
      end
      assert.equal(0, bt_count(m:id()))
    end)

    priv.it("values of the wrong length or type #priv", function()
      local m = create(hash_def())
      assert.has_error(function() m:update(u32(1), "1234567") end,
        arg_err(2, "update", "value must be 8 bytes, got 7"))
      assert.has_error(function() m:update(u32(1), "123456789") end,
        arg_err(2, "update", "value must be 8 bytes, got 9"))
      assert.has_error(function() m:update(u32(1), 12345678) end,
        arg_err(2, "update", "value must be a string of 8 bytes, got number"))
      assert.has_error(function() m:update(u32(1), { u64(1) }) end,
        arg_err(2, "update", "value must be a string of 8 bytes, got table"))
      assert.has_error(function() m:update(u32(1)) end,
        arg_err(2, "update", "value must be a string of 8 bytes, got no value"))
      assert.equal(0, bt_count(m:id()))
    end)

    priv.it("unknown update flags #priv", function()
      local m = create(hash_def())
      assert.has_error(function() m:update(u32(1), u64(1), "NOEXIST") end,
        arg_err(3, "update", "invalid option 'NOEXIST'"))
      assert.has_error(function() m:update(u32(1), u64(1), "any\0") end,
        arg_err(3, "update", "invalid option 'any\\x00'"))
      assert.has_error(function() m:update(u32(1), u64(1), 1) end,
        arg_err(3, "update", "invalid option '1'"))
      assert.has_error(function() m:update(u32(1), u64(1), {}) end,
        arg_err(3, "update", "string expected, got table"))
      assert.equal(0, bt_count(m:id()))
    end)

    priv.it("every element method of a closed MapData raises #priv", function()
      local m = create(hash_def())
      local q = create({ type = "queue", key_size = 0, value_size = 4, max_entries = 1 })
      m:close()
      q:close()
      local msg = "attempt to use a closed MapData"
      assert.has_error(function() m:lookup(u32(1)) end, msg)
      assert.has_error(function() m:update(u32(1), u64(1)) end, msg)
      assert.has_error(function() m:update("bad", 1, "bad") end, msg)
      assert.has_error(function() m:delete(u32(1)) end, msg)
      assert.has_error(function() m:lookup_and_delete(u32(1)) end, msg)
      assert.has_error(function() m:next_key() end, msg)
      assert.has_error(function() m:pairs() end, msg)
      assert.has_error(function() m:freeze() end, msg)
      assert.has_error(function() q:push("aaaa") end, msg)
      assert.has_error(function() q:pop() end, msg)
      assert.has_error(function() q:peek() end, msg)
      assert.has_error(function() MapData.methods.lookup(m, u32(1)) end, msg)
    end)

    it("methods check their self", function()
      assert.has_error(function() MapData.methods.lookup({}, "abcd") end,
        arg_err(1, "lookup", "bpfmap.MapData expected, got table"))
      assert.has_error(function() MapData.methods.push(nil, "abcd") end,
        arg_err(1, "push", "bpfmap.MapData expected, got nil"))
      assert.has_error(function() MapData.methods.pairs(io.stdout) end,
        arg_err(1, "pairs", "bpfmap.MapData expected, got FILE*"))
    end)
  end)
end)

describe("bpfmap.hex", function()
  it("shows bytes as hex, per-CPU lists a line per CPU, nil as nil", function()
    assert.equal("01 00 00 ff", bpfmap.hex("\1\0\0\255"))
    assert.equal("", bpfmap.hex(""))
    assert.equal("cpu0: 01 02\ncpu1: 03 04", bpfmap.hex({ "\1\2", "\3\4" }))
    assert.is_nil(bpfmap.hex(nil))
  end)
  it("puts sep between the bytes", function()
    assert.equal("0100ff", bpfmap.hex("\1\0\255", ""))
    assert.equal("01:00", bpfmap.hex("\1\0", ":"))
    assert.equal("cpu0: 0102\ncpu1: 0304", bpfmap.hex({ "\1\2", "\3\4" }, ""))
  end)
  it("raises on anything else", function()
    assert.has_error(function() bpfmap.hex(5) end,
      "bad argument #1 to 'hex' (string or list of strings expected, got number)")
    assert.has_error(function() bpfmap.hex("\1", 0) end,
      "bad argument #2 to 'hex' (string expected, got number)")
  end)
end)
