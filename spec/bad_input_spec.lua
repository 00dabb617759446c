-- Bad input to every public function and method, table-driven: each row is
-- { name, call, expectation } and its name says what it feeds to what.
--
-- A caller's mistake must raise a message naming the argument (compared
-- whole, after the "file:line: " Lua puts in front); input that is legal but
-- that the kernel refuses must return nil, message, errno. Around the whole
-- run, bpftool reads the maps the rows aim at, and none may have changed.
--
-- Expectations:
--   "text"             raises exactly this message
--   has "text"         raises a message containing this
--   apply_arg(n, text) raises "bad argument #n to '<any name>' (text)"
--   fails(errno, pre)  returns nil, a message starting with pre, errno
--   returns(fn)        returns normally; fn checks the results
--   custom(fn)         fn(pcall results) checks it all
local bpfmap = require "bpfmap"
local bpfobj = require "spec.helpers.bpfobj"
local bpffs = require "spec.helpers.bpffs"
local priv = require("spec.helpers.priv").bind(_ENV)

local MapData, Btf, BpfMapWrite = bpfmap.MapData, bpfmap.Btf, bpfmap.BpfMapWrite
local W = BpfMapWrite.new
local E = bpfmap.errno
local OBJ = "build/fixtures/globals.bpf.o"

local NAN, INF = 0 / 0, math.huge
local MININT, MAXINT = math.mininteger, math.maxinteger
local F53 = 2 ^ 53 + 1          -- a float: rounds to 2^53
local I53 = (1 << 53) + 1       -- an integer
local CO = coroutine.create(function() end)
local FN = function() end
local CLOSED = "attempt to use a closed MapData"
local CLOSED_BTF = "attempt to use a closed Btf"

local function bad(n, fname, detail)
  return string.format("bad argument #%d to '%s' (%s)", n, fname, detail)
end
local function has(text) return { has = text } end
local function apply_arg(n, detail) return { apply_n = n, detail = detail } end
local function fails(errno, prefix) return { errno = errno, prefix = prefix } end
local function returns(fn) return { returns = fn or true } end
local function custom(fn) return { custom = fn } end

-- The message without the "file:line: " that luaL_error and error() add.
local function strip(msg)
  return (tostring(msg):gsub("^[^%s:]+:%d+: ", "", 1))
end

-- A valid definition, with `extra` merged in (NONE removes a field).
local NONE = {}
local function def(extra)
  local d = { type = "array", key_size = 4, value_size = 8, max_entries = 1 }
  for k, v in pairs(extra or {}) do
    if v == NONE then d[k] = nil else d[k] = v end
  end
  return d
end
local function create(extra, ...) return MapData.create(def(extra), "bpfmapt_bad", ...) end

local w = W(".fd", "data_limit", 1)

-- A raise whose message mentions `prefix` but does not end the quote right
-- after it: the input had more bytes (after a NUL) than the message shows.
local function raises_quoting(prefix)
  return custom(function(ok, err)
    assert.is_false(ok, "did not raise")
    local msg = strip(err)
    assert.is_truthy(msg:find(prefix, 1, true), msg)
    assert.is_falsy(msg:find(prefix .. "'", 1, true),
      "the message quotes the input cut at its NUL: " .. msg)
  end)
end

local function must_raise(text)
  return custom(function(ok, err)
    assert.is_false(ok, "did not raise")
    assert.is_truthy(strip(err):find(text, 1, true), strip(err))
  end)
end

---------------------------------------------------------------------------
-- Rows that raise before any syscall: no privilege or live handle needed.

local PURE = {
  -- MapData.create: def
  { "create(nil, name)", function() return MapData.create(nil, "x") end,
    bad(1, "create", "table expected, got nil") },
  { "create(true, name)", function() return MapData.create(true, "x") end,
    bad(1, "create", "table expected, got boolean") },
  { "create('array', name)", function() return MapData.create("array", "x") end,
    bad(1, "create", "table expected, got string") },
  { "create(42, name)", function() return MapData.create(42, "x") end,
    bad(1, "create", "table expected, got number") },
  { "create(function, name)", function() return MapData.create(FN, "x") end,
    bad(1, "create", "table expected, got function") },
  { "create(coroutine, name)", function() return MapData.create(CO, "x") end,
    bad(1, "create", "table expected, got thread") },
  { "create(io.stdout, name)", function() return MapData.create(io.stdout, "x") end,
    bad(1, "create", "table expected, got FILE*") },
  -- MapData.create: name
  { "create(def) without a name", function() return MapData.create(def()) end,
    bad(2, "create", "name must be a string, got no value") },
  { "create(def, nil)", function() return MapData.create(def(), nil) end,
    bad(2, "create", "name must be a string, got nil") },
  { "create(def, 42)", function() return MapData.create(def(), 42) end,
    bad(2, "create", "name must be a string, got number") },
  { "create(def, false)", function() return MapData.create(def(), false) end,
    bad(2, "create", "name must be a string, got boolean") },
  { "create(def, table)", function() return MapData.create(def(), {}) end,
    bad(2, "create", "name must be a string, got table") },
  { "create(def, coroutine)", function() return MapData.create(def(), CO) end,
    bad(2, "create", "name must be a string, got thread") },
  { "create(def, name with NUL)", function() return MapData.create(def(), "ab\0c") end,
    bad(2, "create", "name may hold only letters, digits, '_' and '.' (byte 2 is 0x00)") },
  { "create(def, name of a high byte)", function() return MapData.create(def(), "\xff") end,
    bad(2, "create", "name may hold only letters, digits, '_' and '.' (byte 0 is 0xff)") },
  { "create(def, name of 16 bytes)", function() return MapData.create(def(), "bpfmapt_0123456a") end,
    bad(2, "create", "name must be at most 15 bytes (got 16)") },
  { "create(def, name of 1 MiB)", function() return MapData.create(def(), ("a"):rep(1 << 20)) end,
    bad(2, "create", "name must be at most 15 bytes (got 1048576)") },
  -- MapData.create: btf_fd
  { "create(def, name, btf_fd=NaN)", function() return create(nil, NAN) end,
    bad(3, "create", "btf_fd must be an integer, got " .. tostring(NAN)) },
  { "create(def, name, btf_fd=inf)", function() return create(nil, INF) end,
    bad(3, "create", "btf_fd must be an integer, got inf") },
  { "create(def, name, btf_fd=-inf)", function() return create(nil, -INF) end,
    bad(3, "create", "btf_fd must be an integer, got -inf") },
  { "create(def, name, btf_fd=1.5)", function() return create(nil, 1.5) end,
    bad(3, "create", "btf_fd must be an integer, got 1.5") },
  { "create(def, name, btf_fd=-1)", function() return create(nil, -1) end,
    bad(3, "create", "btf_fd must be in 0..2147483647, got -1") },
  { "create(def, name, btf_fd=2^31)", function() return create(nil, 1 << 31) end,
    bad(3, "create", "btf_fd must be in 0..2147483647, got 2147483648") },
  { "create(def, name, btf_fd=2^53+1)", function() return create(nil, F53) end,
    bad(3, "create", "btf_fd must be in 0..2147483647, got 9007199254740992") },
  { "create(def, name, btf_fd=mininteger)", function() return create(nil, MININT) end,
    bad(3, "create", "btf_fd must be in 0..2147483647, got -9223372036854775808") },
  { "create(def, name, btf_fd='x')", function() return create(nil, "x") end,
    bad(3, "create", "btf_fd must be an integer, got string") },
  { "create(def, name, btf_fd=true)", function() return create(nil, true) end,
    bad(3, "create", "btf_fd must be an integer, got boolean") },
  { "create(def, name, btf_fd=table)", function() return create(nil, {}) end,
    bad(3, "create", "btf_fd must be an integer, got table") },
  { "create(def, name, btf_fd=function)", function() return create(nil, FN) end,
    bad(3, "create", "btf_fd must be an integer, got function") },
  -- MapData.create: def fields
  { "create def without type", function() return create({ type = NONE }) end,
    bad(1, "create", "field 'type' is required") },
  { "create def type=true", function() return create({ type = true }) end,
    bad(1, "create", "field 'type' must be a name or a number, got boolean") },
  { "create def type=table", function() return create({ type = {} }) end,
    bad(1, "create", "field 'type' must be a name or a number, got table") },
  { "create def type=function", function() return create({ type = FN }) end,
    bad(1, "create", "field 'type' must be a name or a number, got function") },
  { "create def type='bogus'", function() return create({ type = "bogus" }) end,
    bad(1, "create", "unknown map type 'bogus'") },
  { "create def type=''", function() return create({ type = "" }) end,
    bad(1, "create", "unknown map type ''") },
  { "create def type='ARRAY'", function() return create({ type = "ARRAY" }) end,
    bad(1, "create", "unknown map type 'ARRAY'") },
  { "create def type='unspec'", function() return create({ type = "unspec" }) end,
    bad(1, "create", "unknown map type 'unspec'") },
  { "create def type='\\xff'", function() return create({ type = "\xff" }) end,
    bad(1, "create", "unknown map type '\xff'") },
  { "create def type='array' NUL 'x' is quoted whole", function() return create({ type = "array\0x" }) end,
    raises_quoting("unknown map type 'array") },
  { "create def type=0", function() return create({ type = 0 }) end,
    bad(1, "create", "field 'type' must be in 1..4294967295, got 0") },
  { "create def type=-1", function() return create({ type = -1 }) end,
    bad(1, "create", "field 'type' must be in 1..4294967295, got -1") },
  { "create def type=2^32", function() return create({ type = 1 << 32 }) end,
    bad(1, "create", "field 'type' must be in 1..4294967295, got 4294967296") },
  { "create def type=NaN", function() return create({ type = NAN }) end,
    bad(1, "create", "field 'type' must be an integer, got " .. tostring(NAN)) },
  { "create def type=inf", function() return create({ type = INF }) end,
    bad(1, "create", "field 'type' must be an integer, got inf") },
  { "create def type=1.5", function() return create({ type = 1.5 }) end,
    bad(1, "create", "field 'type' must be an integer, got 1.5") },
  { "create def type=mininteger", function() return create({ type = MININT }) end,
    bad(1, "create", "field 'type' must be in 1..4294967295, got -9223372036854775808") },
  { "create def type=2^53+1", function() return create({ type = I53 }) end,
    bad(1, "create", "field 'type' must be in 1..4294967295, got 9007199254740993") },
  { "create def key_size=-1", function() return create({ key_size = -1 }) end,
    bad(1, "create", "field 'key_size' must be in 0..4294967295, got -1") },
  { "create def key_size=2^32", function() return create({ key_size = 1 << 32 }) end,
    bad(1, "create", "field 'key_size' must be in 0..4294967295, got 4294967296") },
  { "create def key_size=NaN", function() return create({ key_size = NAN }) end,
    bad(1, "create", "field 'key_size' must be an integer, got " .. tostring(NAN)) },
  { "create def key_size=-inf", function() return create({ key_size = -INF }) end,
    bad(1, "create", "field 'key_size' must be an integer, got -inf") },
  { "create def key_size=4.5", function() return create({ key_size = 4.5 }) end,
    bad(1, "create", "field 'key_size' must be an integer, got 4.5") },
  { "create def key_size='four'", function() return create({ key_size = "four" }) end,
    bad(1, "create", "field 'key_size' must be an integer, got string") },
  { "create def key_size=true", function() return create({ key_size = true }) end,
    bad(1, "create", "field 'key_size' must be an integer, got boolean") },
  { "create def key_size=table", function() return create({ key_size = {} }) end,
    bad(1, "create", "field 'key_size' must be an integer, got table") },
  { "create def value_size=mininteger", function() return create({ value_size = MININT }) end,
    bad(1, "create", "field 'value_size' must be in 0..4294967295, got -9223372036854775808") },
  { "create def value_size=2^53+1 (float)", function() return create({ value_size = F53 }) end,
    bad(1, "create", "field 'value_size' must be in 0..4294967295, got 9007199254740992") },
  { "create def value_size=inf", function() return create({ value_size = INF }) end,
    bad(1, "create", "field 'value_size' must be an integer, got inf") },
  { "create def value_size=coroutine", function() return create({ value_size = CO }) end,
    bad(1, "create", "field 'value_size' must be an integer, got thread") },
  { "create def without max_entries", function() return create({ max_entries = NONE }) end,
    bad(1, "create", "field 'max_entries' is required") },
  { "create def max_entries=NaN", function() return create({ max_entries = NAN }) end,
    bad(1, "create", "field 'max_entries' must be an integer, got " .. tostring(NAN)) },
  { "create def max_entries=-1", function() return create({ max_entries = -1 }) end,
    bad(1, "create", "field 'max_entries' must be in 0..4294967295, got -1") },
  { "create def max_entries=maxinteger", function() return create({ max_entries = MAXINT }) end,
    bad(1, "create", "field 'max_entries' must be in 0..4294967295, got 9223372036854775807") },
  { "create def max_entries=2^63 (float)", function() return create({ max_entries = 2 ^ 63 }) end,
    bad(1, "create", "field 'max_entries' must be an integer, got " .. tostring(2 ^ 63)) },
  { "create def flags='mmapable'", function() return create({ flags = "mmapable" }) end,
    bad(1, "create", "field 'flags' must be a list of names or a number, got string") },
  { "create def flags=true", function() return create({ flags = true }) end,
    bad(1, "create", "field 'flags' must be a list of names or a number, got boolean") },
  { "create def flags=function", function() return create({ flags = FN }) end,
    bad(1, "create", "field 'flags' must be a list of names or a number, got function") },
  { "create def flags as a map {mmapable=true}", function() return create({ flags = { mmapable = true } }) end,
    bad(1, "create", "flags must be a list of flag names, not a table keyed by mmapable") },
  { "create def flags list plus a key {'mmapable', rdonly=true}",
    function() return create({ flags = { "mmapable", rdonly = true } }) end,
    bad(1, "create", "flags must be a list of flag names, not a table keyed by rdonly") },
  { "create def flags keyed from 0", function() return create({ flags = { [0] = "mmapable" } }) end,
    bad(1, "create", "flags must be a list of flag names, not a table keyed by 0") },
  { "create def flags keyed by 1.5", function() return create({ flags = { [1.5] = "mmapable" } }) end,
    bad(1, "create", "flags must be a list of flag names, not a table keyed by 1.5") },
  { "create def flags={1}", function() return create({ flags = { 1 } }) end,
    bad(1, "create", "flags[1] must be a flag name, got number") },
  { "create def flags={'mmapable', {}}", function() return create({ flags = { "mmapable", {} } }) end,
    bad(1, "create", "flags[2] must be a flag name, got table") },
  { "create def flags={'bogus'}", function() return create({ flags = { "bogus" } }) end,
    bad(1, "create", "unknown map flag 'bogus'") },
  { "create def flags={'MMAPABLE'}", function() return create({ flags = { "MMAPABLE" } }) end,
    bad(1, "create", "unknown map flag 'MMAPABLE'") },
  { "create def flags={'BPF_F_MMAPABLE'}", function() return create({ flags = { "BPF_F_MMAPABLE" } }) end,
    bad(1, "create", "unknown map flag 'BPF_F_MMAPABLE'") },
  { "create def flags={''}", function() return create({ flags = { "" } }) end,
    bad(1, "create", "unknown map flag ''") },
  { "create def flags={'mmapable' NUL 'x'} is quoted whole", function() return create({ flags = { "mmapable\0x" } }) end,
    raises_quoting("unknown map flag 'mmapable") },
  { "create def flags=-1", function() return create({ flags = -1 }) end,
    bad(1, "create", "field 'flags' must be in 0..4294967295, got -1") },
  { "create def flags=2^32", function() return create({ flags = 1 << 32 }) end,
    bad(1, "create", "field 'flags' must be in 0..4294967295, got 4294967296") },
  { "create def flags=NaN", function() return create({ flags = NAN }) end,
    bad(1, "create", "field 'flags' must be an integer, got " .. tostring(NAN)) },
  { "create def map_extra=-1", function() return create({ map_extra = -1 }) end,
    bad(1, "create", "field 'map_extra' must be in 0..9223372036854775807, got -1") },
  { "create def map_extra=2^64 (float)", function() return create({ map_extra = 2 ^ 64 }) end,
    bad(1, "create", "field 'map_extra' must be an integer, got " .. tostring(2 ^ 64)) },
  { "create def map_extra='3x'", function() return create({ map_extra = "3x" }) end,
    bad(1, "create", "field 'map_extra' must be an integer, got string") },
  { "create def btf_key_type_id=-1", function() return create({ btf_key_type_id = -1 }) end,
    bad(1, "create", "field 'btf_key_type_id' must be in 0..4294967295, got -1") },
  { "create def btf_value_type_id=2^32", function() return create({ btf_value_type_id = 1 << 32 }) end,
    bad(1, "create", "field 'btf_value_type_id' must be in 0..4294967295, got 4294967296") },
  { "create def btf_vmlinux_value_type_id=NaN", function() return create({ btf_vmlinux_value_type_id = NAN }) end,
    bad(1, "create", "field 'btf_vmlinux_value_type_id' must be an integer, got " .. tostring(NAN)) },
  { "create def numa_node=-1", function() return create({ numa_node = -1 }) end,
    bad(1, "create", "field 'numa_node' must be in 0..4294967295, got -1") },
  { "create def ifindex=2^32", function() return create({ ifindex = 1 << 32 }) end,
    bad(1, "create", "field 'ifindex' must be in 0..4294967295, got 4294967296") },
  { "create def ifindex=boolean", function() return create({ ifindex = false }) end,
    bad(1, "create", "field 'ifindex' must be an integer, got boolean") },
  { "create def inner_map_fd=-1", function() return create({ inner_map_fd = -1 }) end,
    bad(1, "create", "field 'inner_map_fd' must be in 0..2147483647, got -1") },
  { "create def inner_map_fd=2^31", function() return create({ inner_map_fd = 1 << 31 }) end,
    bad(1, "create", "field 'inner_map_fd' must be in 0..2147483647, got 2147483648") },
  { "create def inner_map_fd=true", function() return create({ inner_map_fd = true }) end,
    bad(1, "create", "field 'inner_map_fd' must be an integer, got boolean") },
  { "create def inner_map_fd=table", function() return create({ inner_map_fd = {} }) end,
    bad(1, "create", "field 'inner_map_fd' must be an integer, got table") },
  { "create def inner_map_fd=BpfMapWrite", function() return create({ inner_map_fd = w }) end,
    bad(1, "create", "field 'inner_map_fd' must be an integer, got userdata") },
  { "create def with unknown field valuesize", function() return create({ valuesize = 8 }) end,
    bad(1, "create", "unknown field 'valuesize'") },
  { "create def with unknown field Type", function() return create({ Type = "array" }) end,
    bad(1, "create", "unknown field 'Type'") },
  { "create def with a list item", function() return create({ [1] = "array" }) end,
    bad(1, "create", "unknown field '1'") },
  { "create def with a boolean key", function() return create({ [true] = 1 }) end,
    bad(1, "create", "unknown field 'true'") },
  { "create def with field key_size NUL is quoted whole", function() return create({ ["key_size\0"] = 4 }) end,
    raises_quoting("unknown field 'key_size") },

  -- MapData.from_pin
  { "from_pin()", function() return MapData.from_pin() end,
    bad(1, "from_pin", "path must be a string, got no value") },
  { "from_pin(nil)", function() return MapData.from_pin(nil) end,
    bad(1, "from_pin", "path must be a string, got nil") },
  { "from_pin(42)", function() return MapData.from_pin(42) end,
    bad(1, "from_pin", "path must be a string, got number") },
  { "from_pin(true)", function() return MapData.from_pin(true) end,
    bad(1, "from_pin", "path must be a string, got boolean") },
  { "from_pin(table)", function() return MapData.from_pin({}) end,
    bad(1, "from_pin", "path must be a string, got table") },
  { "from_pin(function)", function() return MapData.from_pin(FN) end,
    bad(1, "from_pin", "path must be a string, got function") },
  { "from_pin(coroutine)", function() return MapData.from_pin(CO) end,
    bad(1, "from_pin", "path must be a string, got thread") },
  { "from_pin(io.stdout)", function() return MapData.from_pin(io.stdout) end,
    bad(1, "from_pin", "path must be a string, got userdata") },
  { "from_pin('')", function() return MapData.from_pin("") end,
    bad(1, "from_pin", "path must not be empty") },
  { "from_pin(NUL)", function() return MapData.from_pin("\0") end,
    bad(1, "from_pin", "path must not contain an embedded NUL (byte 0)") },
  { "from_pin(path with NUL)", function() return MapData.from_pin("/sys/fs/bpf/a\0b") end,
    bad(1, "from_pin", "path must not contain an embedded NUL (byte 13)") },

  -- MapData.from_id, MapData.from_fd, Btf.from_id: one integer argument
}

local function integer_rows(label, call, fname, what, hi)
  local rows = {
    { "()", function() return call() end, what .. " must be an integer, got no value" },
    { "(nil)", function() return call(nil) end, what .. " must be an integer, got nil" },
    { "(true)", function() return call(true) end, what .. " must be an integer, got boolean" },
    { "('x')", function() return call("x") end, what .. " must be an integer, got string" },
    { "(table)", function() return call({}) end, what .. " must be an integer, got table" },
    { "(function)", function() return call(FN) end, what .. " must be an integer, got function" },
    { "(coroutine)", function() return call(CO) end, what .. " must be an integer, got thread" },
    { "(io.stdout)", function() return call(io.stdout) end, what .. " must be an integer, got userdata" },
    { "(BpfMapWrite)", function() return call(w) end, what .. " must be an integer, got userdata" },
    { "(NaN)", function() return call(NAN) end, what .. " must be an integer, got " .. tostring(NAN) },
    { "(inf)", function() return call(INF) end, what .. " must be an integer, got inf" },
    { "(-inf)", function() return call(-INF) end, what .. " must be an integer, got -inf" },
    { "(1.5)", function() return call(1.5) end, what .. " must be an integer, got 1.5" },
    { "(2^63 float)", function() return call(2 ^ 63) end,
      what .. " must be an integer, got " .. tostring(2 ^ 63) },
    { "(-1)", function() return call(-1) end,
      string.format("%s must be in 0..%d, got -1", what, hi) },
    { "(hi+1)", function() return call(hi + 1) end,
      string.format("%s must be in 0..%d, got %d", what, hi, hi + 1) },
    { "(2^53+1 float)", function() return call(F53) end,
      string.format("%s must be in 0..%d, got 9007199254740992", what, hi) },
    { "(2^53+1 integer)", function() return call(I53) end,
      string.format("%s must be in 0..%d, got 9007199254740993", what, hi) },
    { "(mininteger)", function() return call(MININT) end,
      string.format("%s must be in 0..%d, got -9223372036854775808", what, hi) },
    { "(maxinteger)", function() return call(MAXINT) end,
      string.format("%s must be in 0..%d, got 9223372036854775807", what, hi) },
    { "('0x1p64' string)", function() return call("0x1p64") end,
      what .. " must be an integer, got string" },
  }
  for _, r in ipairs(rows) do
    PURE[#PURE + 1] = { label .. r[1], r[2], bad(1, fname, r[3]) }
  end
end
integer_rows("from_id", function(...) return MapData.from_id(...) end, "from_id", "id", 4294967295)
integer_rows("from_fd", function(...) return MapData.from_fd(...) end, "from_fd", "fd", 2147483647)
integer_rows("Btf.from_id", function(...) return Btf.from_id(...) end, "from_id", "id", 4294967295)

local function more(rows)
  for _, r in ipairs(rows) do PURE[#PURE + 1] = r end
end

more {
  -- BpfMapWrite.new: map_name_suffix
  { "new() without arguments", function() return BpfMapWrite.new() end,
    bad(1, "new", "map_name_suffix must be a string, got no value") },
  { "new(nil, field, value)", function() return BpfMapWrite.new(nil, "crash", 1) end,
    bad(1, "new", "map_name_suffix must be a string, got nil") },
  { "new(42, field, value)", function() return BpfMapWrite.new(42, "crash", 1) end,
    bad(1, "new", "map_name_suffix must be a string, got number") },
  { "new(true, field, value)", function() return BpfMapWrite.new(true, "crash", 1) end,
    bad(1, "new", "map_name_suffix must be a string, got boolean") },
  { "new(table, field, value)", function() return BpfMapWrite.new({}, "crash", 1) end,
    bad(1, "new", "map_name_suffix must be a string, got table") },
  { "new(function, field, value)", function() return BpfMapWrite.new(FN, "crash", 1) end,
    bad(1, "new", "map_name_suffix must be a string, got function") },
  { "new(coroutine, field, value)", function() return BpfMapWrite.new(CO, "crash", 1) end,
    bad(1, "new", "map_name_suffix must be a string, got thread") },
  { "new(BpfMapWrite, field, value)", function() return BpfMapWrite.new(w, "crash", 1) end,
    bad(1, "new", "map_name_suffix must be a string, got userdata") },
  { "new('', field, value)", function() return BpfMapWrite.new("", "crash", 1) end,
    bad(1, "new", "map_name_suffix must not be empty") },
  { "new('bss', field, value)", function() return BpfMapWrite.new("bss", "crash", 1) end,
    bad(1, "new", "map_name_suffix must start with '.'") },
  { "new('.', field, value)", function() return BpfMapWrite.new(".", "crash", 1) end,
    bad(1, "new", "map_name_suffix must not be a bare '.'") },
  { "new('..bss', field, value)", function() return BpfMapWrite.new("..bss", "crash", 1) end,
    bad(1, "new", "map_name_suffix must not start with '..'") },
  { "new('.b ss', field, value)", function() return BpfMapWrite.new(".b ss", "crash", 1) end,
    bad(1, "new", "map_name_suffix must not contain whitespace (byte 2)") },
  { "new('.b/ss', field, value)", function() return BpfMapWrite.new(".b/ss", "crash", 1) end,
    bad(1, "new", "map_name_suffix must not contain '/' or '\\' (byte 2)") },
  { "new('.bss' NUL, field, value)", function() return BpfMapWrite.new(".bss\0", "crash", 1) end,
    bad(1, "new", "map_name_suffix must contain only printable ASCII (byte 4 is 0x00)") },
  { "new('.b' high byte 'ss', field, value)", function() return BpfMapWrite.new(".b\xffss", "crash", 1) end,
    bad(1, "new", "map_name_suffix must contain only printable ASCII (byte 2 is 0xff)") },
  { "new(suffix of 16 bytes, field, value)", function() return BpfMapWrite.new(".abcdefghijklmno", "crash", 1) end,
    bad(1, "new", "map_name_suffix must be at most 15 bytes, the longest kernel map name (got 16)") },
  -- BpfMapWrite.new: field
  { "new(suffix) without field", function() return BpfMapWrite.new(".bss") end,
    bad(2, "new", "field must be a string, got no value") },
  { "new(suffix, nil, value)", function() return BpfMapWrite.new(".bss", nil, 1) end,
    bad(2, "new", "field must be a string, got nil") },
  { "new(suffix, 42, value)", function() return BpfMapWrite.new(".bss", 42, 1) end,
    bad(2, "new", "field must be a string, got number") },
  { "new(suffix, table, value)", function() return BpfMapWrite.new(".bss", {}, 1) end,
    bad(2, "new", "field must be a string, got table") },
  { "new(suffix, '', value)", function() return BpfMapWrite.new(".bss", "", 1) end,
    bad(2, "new", "field must not be empty") },
  { "new(suffix, '.crash', value)", function() return BpfMapWrite.new(".bss", ".crash", 1) end,
    bad(2, "new", "field must not start or end with '.'") },
  { "new(suffix, 'crash.', value)", function() return BpfMapWrite.new(".bss", "crash.", 1) end,
    bad(2, "new", "field must not start or end with '.'") },
  { "new(suffix, 'a..b', value)", function() return BpfMapWrite.new(".bss", "a..b", 1) end,
    bad(2, "new", "field must not contain '..' (empty path segment)") },
  { "new(suffix, 'a b', value)", function() return BpfMapWrite.new(".bss", "a b", 1) end,
    bad(2, "new", "field must not contain whitespace (byte 1)") },
  { "new(suffix, 'a\\b', value)", function() return BpfMapWrite.new(".bss", "a\\b", 1) end,
    bad(2, "new", "field must not contain '/' or '\\' (byte 1)") },
  { "new(suffix, 'cr' NUL 'sh', value)", function() return BpfMapWrite.new(".bss", "cr\0sh", 1) end,
    bad(2, "new", "field must contain only printable ASCII (byte 2 is 0x00)") },
  { "new(suffix, high bytes, value)", function() return BpfMapWrite.new(".bss", "\xc3\xa9t\xc3\xa9", 1) end,
    bad(2, "new", "field must contain only printable ASCII (byte 0 is 0xc3)") },
  { "new(suffix, '1x', value)", function() return BpfMapWrite.new(".bss", "1x", 1) end,
    bad(2, "new", "field segment '1x' must be a C identifier with optional [index] suffixes") },
  { "new(suffix, 'a[]', value)", function() return BpfMapWrite.new(".bss", "a[]", 1) end,
    bad(2, "new", "field segment 'a[]' must be a C identifier with optional [index] suffixes") },
  { "new(suffix, 'a[-1]', value)", function() return BpfMapWrite.new(".bss", "a[-1]", 1) end,
    bad(2, "new", "field segment 'a[-1]' must be a C identifier with optional [index] suffixes") },
  { "new(suffix, 'a[12345678901]', value)", function() return BpfMapWrite.new(".bss", "a[12345678901]", 1) end,
    bad(2, "new", "field segment 'a[12345678901]' must be a C identifier with optional [index] suffixes") },
  -- BpfMapWrite.new: value
  { "new(suffix, field) without value", function() return BpfMapWrite.new(".bss", "crash") end,
    bad(3, "new", "value must be an integer, got no value") },
  { "new(suffix, field, nil)", function() return BpfMapWrite.new(".bss", "crash", nil) end,
    bad(3, "new", "value must be an integer, got nil") },
  { "new(suffix, field, '1')", function() return BpfMapWrite.new(".bss", "crash", "1") end,
    bad(3, "new", "value must be an integer, got string") },
  { "new(suffix, field, true)", function() return BpfMapWrite.new(".bss", "crash", true) end,
    bad(3, "new", "value must be an integer, got boolean") },
  { "new(suffix, field, table)", function() return BpfMapWrite.new(".bss", "crash", {}) end,
    bad(3, "new", "value must be an integer, got table") },
  { "new(suffix, field, coroutine)", function() return BpfMapWrite.new(".bss", "crash", CO) end,
    bad(3, "new", "value must be an integer, got thread") },
  { "new(suffix, field, BpfMapWrite)", function() return BpfMapWrite.new(".bss", "crash", w) end,
    bad(3, "new", "value must be an integer, got userdata") },
  { "new(suffix, field, 1.5)", function() return BpfMapWrite.new(".bss", "crash", 1.5) end,
    bad(3, "new", "value must be an integer, got 1.5") },
  { "new(suffix, field, NaN)", function() return BpfMapWrite.new(".bss", "crash", NAN) end,
    bad(3, "new", "value must be an integer, got " .. tostring(NAN)) },
  { "new(suffix, field, inf)", function() return BpfMapWrite.new(".bss", "crash", INF) end,
    bad(3, "new", "value must be an integer, got inf") },
  { "new(suffix, field, -inf)", function() return BpfMapWrite.new(".bss", "crash", -INF) end,
    bad(3, "new", "value must be an integer, got -inf") },
  { "new(suffix, field, 2^63 float)", function() return BpfMapWrite.new(".bss", "crash", 2 ^ 63) end,
    bad(3, "new", "value must be an integer, got " .. tostring(2 ^ 63)) },
  { "new(suffix, field, 2^53+1 float) is the integer 2^53", function() return BpfMapWrite.new(".bss", "crash", F53) end,
    returns(function(v) assert.equal(1 << 53, v:value()) end) },
  { "new(suffix, field, mininteger) is legal", function() return BpfMapWrite.new(".bss", "crash", MININT) end,
    returns(function(v) assert.equal(MININT, v:value()) end) },
  { "new(suffix, field, -2^63 float) is mininteger", function() return BpfMapWrite.new(".bss", "crash", -2 ^ 63) end,
    returns(function(v) assert.equal(MININT, v:value()) end) },

  -- BpfMapWrite methods on something else
  { "BpfMapWrite.methods.map_name_suffix(nil)", function() return BpfMapWrite.methods.map_name_suffix(nil) end,
    bad(1, "map_name_suffix", "bpfmap.BpfMapWrite expected, got nil") },
  { "BpfMapWrite.methods.field(table)", function() return BpfMapWrite.methods.field({}) end,
    bad(1, "field", "bpfmap.BpfMapWrite expected, got table") },
  { "BpfMapWrite.methods.value(io.stdout)", function() return BpfMapWrite.methods.value(io.stdout) end,
    bad(1, "value", "bpfmap.BpfMapWrite expected, got FILE*") },
  { "BpfMapWrite.methods.value('x')", function() return BpfMapWrite.methods.value("x") end,
    bad(1, "value", "bpfmap.BpfMapWrite expected, got string") },
  { "BpfMapWrite __tostring(table)", function() return getmetatable(w).__tostring({}) end,
    bad(1, "__tostring", "bpfmap.BpfMapWrite expected, got table") },
  { "BpfMapWrite == io.stdout is false", function() return w == io.stdout end,
    returns(function(v) assert.is_false(v) end) },
  { "io.stdout == BpfMapWrite is false", function() return io.stdout == w end,
    returns(function(v) assert.is_false(v) end) },

  -- apply_writes and w:apply: the writes
  { "apply_writes()", function() return bpfmap.apply_writes() end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got nil") },
  { "apply_writes(true)", function() return bpfmap.apply_writes(true) end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got boolean") },
  { "apply_writes('x')", function() return bpfmap.apply_writes("x") end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got string") },
  { "apply_writes(42)", function() return bpfmap.apply_writes(42) end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got number") },
  { "apply_writes(function)", function() return bpfmap.apply_writes(FN) end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got function") },
  { "apply_writes(coroutine)", function() return bpfmap.apply_writes(CO) end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got thread") },
  { "apply_writes(io.stdout)", function() return bpfmap.apply_writes(io.stdout) end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got userdata") },
  { "apply_writes({'x'})", function() return bpfmap.apply_writes({ "x" }) end,
    apply_arg(1, "writes[1] must be a BpfMapWrite, got string") },
  { "apply_writes({w, 42})", function() return bpfmap.apply_writes({ w, 42 }) end,
    apply_arg(1, "writes[2] must be a BpfMapWrite, got number") },
  { "apply_writes({w, table})", function() return bpfmap.apply_writes({ w, {} }) end,
    apply_arg(1, "writes[2] must be a BpfMapWrite, got table") },
  { "apply_writes({w, io.stdout})", function() return bpfmap.apply_writes({ w, io.stdout }) end,
    apply_arg(1, "writes[2] must be a BpfMapWrite, got userdata") },
  { "apply_writes({w, extra=w}) refuses a key beside the list",
    function() return bpfmap.apply_writes({ w, extra = w }, { map = 4294967295 }) end,
    must_raise("writes") },
  { "apply_writes({}, {bogus=1}) checks opts of an empty batch",
    function() return bpfmap.apply_writes({}, { bogus = 1 }) end,
    apply_arg(2, "unknown option 'bogus'") },
  { "w.apply('x') on a string", function() return w.apply("x") end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got string") },
  -- apply_writes: opts of the wrong type
  { "apply_writes({w}, 'x')", function() return bpfmap.apply_writes({ w }, "x") end,
    apply_arg(2, "table expected, got string") },
  { "apply_writes({w}, 5)", function() return bpfmap.apply_writes({ w }, 5) end,
    apply_arg(2, "table expected, got number") },
  { "apply_writes({w}, true)", function() return bpfmap.apply_writes({ w }, true) end,
    apply_arg(2, "table expected, got boolean") },
  { "apply_writes({w}, function)", function() return bpfmap.apply_writes({ w }, FN) end,
    apply_arg(2, "table expected, got function") },
  { "apply_writes({w}, coroutine)", function() return bpfmap.apply_writes({ w }, CO) end,
    apply_arg(2, "table expected, got thread") },
  { "apply_writes({w}, BpfMapWrite)", function() return bpfmap.apply_writes({ w }, w) end,
    apply_arg(2, "table expected, got bpfmap.BpfMapWrite") },
  { "w:apply('x')", function() return w:apply("x") end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.is_truthy(strip(err):find("(table expected, got string)", 1, true), err)
    end) },
  -- opts: unknown keys
  { "opts {bogus=1}", function() return bpfmap.apply_writes({ w }, { bogus = 1 }) end,
    apply_arg(2, "unknown option 'bogus'") },
  { "opts {Map=1}", function() return bpfmap.apply_writes({ w }, { Map = 1 }) end,
    apply_arg(2, "unknown option 'Map'") },
  { "opts {true}", function() return bpfmap.apply_writes({ w }, { true }) end,
    apply_arg(2, "unknown option '1'") },
  { "opts {[true]=1}", function() return bpfmap.apply_writes({ w }, { [true] = 1 }) end,
    apply_arg(2, "unknown option 'true'") },
  { "opts {['\\xff']=1}", function() return bpfmap.apply_writes({ w }, { ["\xff"] = 1 }) end,
    apply_arg(2, "unknown option '\xff'") },
  { "opts {map NUL x=1} is quoted whole", function() return bpfmap.apply_writes({ w }, { ["map\0x"] = 1 }) end,
    raises_quoting("unknown option 'map") },
  -- opts.map
  { "opts {map='x'}", function() return bpfmap.apply_writes({ w }, { map = "x" }) end,
    apply_arg(2, "map must be a MapData or a map id, got string") },
  { "opts {map='1'}", function() return bpfmap.apply_writes({ w }, { map = "1" }) end,
    apply_arg(2, "map must be a MapData or a map id, got string") },
  { "opts {map=true}", function() return bpfmap.apply_writes({ w }, { map = true }) end,
    apply_arg(2, "map must be a MapData or a map id, got boolean") },
  { "opts {map=table}", function() return bpfmap.apply_writes({ w }, { map = {} }) end,
    apply_arg(2, "map must be a MapData or a map id, got table") },
  { "opts {map=function}", function() return bpfmap.apply_writes({ w }, { map = FN }) end,
    apply_arg(2, "map must be a MapData or a map id, got function") },
  { "opts {map=coroutine}", function() return bpfmap.apply_writes({ w }, { map = CO }) end,
    apply_arg(2, "map must be a MapData or a map id, got thread") },
  { "opts {map=BpfMapWrite}", function() return bpfmap.apply_writes({ w }, { map = w }) end,
    apply_arg(2, "map must be a MapData or a map id, got userdata") },
  { "opts {map=NaN}", function() return bpfmap.apply_writes({ w }, { map = NAN }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got " .. tostring(NAN)) },
  { "opts {map=inf}", function() return bpfmap.apply_writes({ w }, { map = INF }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got inf") },
  { "opts {map=-inf}", function() return bpfmap.apply_writes({ w }, { map = -INF }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got -inf") },
  { "opts {map=0}", function() return bpfmap.apply_writes({ w }, { map = 0 }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got 0") },
  { "opts {map=-1}", function() return bpfmap.apply_writes({ w }, { map = -1 }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got -1") },
  { "opts {map=2^32}", function() return bpfmap.apply_writes({ w }, { map = 1 << 32 }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got 4294967296") },
  { "opts {map=2^53+1 float}", function() return bpfmap.apply_writes({ w }, { map = F53 }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got " .. tostring(F53)) },
  { "opts {map=mininteger}", function() return bpfmap.apply_writes({ w }, { map = MININT }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got -9223372036854775808") },
  { "opts {map=1.5}", function() return bpfmap.apply_writes({ w }, { map = 1.5 }) end,
    apply_arg(2, "map must be a map id in 1..4294967295, got 1.5") },
  -- opts.maps
  { "opts {maps='x'}", function() return bpfmap.apply_writes({ w }, { maps = "x" }) end,
    apply_arg(2, "maps must be a list of MapData or map ids, got string") },
  { "opts {maps=3}", function() return bpfmap.apply_writes({ w }, { maps = 3 }) end,
    apply_arg(2, "maps must be a list of MapData or map ids, got number") },
  { "opts {maps=BpfMapWrite}", function() return bpfmap.apply_writes({ w }, { maps = w }) end,
    apply_arg(2, "maps must be a list of MapData or map ids, got userdata") },
  { "opts {maps={}}", function() return bpfmap.apply_writes({ w }, { maps = {} }) end,
    apply_arg(2, "maps must not be empty") },
  { "opts {maps={x=1}} as a map", function() return bpfmap.apply_writes({ w }, { maps = { x = 1 } }) end,
    must_raise("maps") },
  { "opts {maps={1, x=2}} list plus a key", function() return bpfmap.apply_writes({ w }, { maps = { 4294967295, x = 2 } }) end,
    must_raise("maps") },
  { "opts {maps={'x'}}", function() return bpfmap.apply_writes({ w }, { maps = { "x" } }) end,
    apply_arg(2, "maps[1] must be a MapData or a map id, got string") },
  { "opts {maps={1, NaN}}", function() return bpfmap.apply_writes({ w }, { maps = { 1, NAN } }) end,
    apply_arg(2, "maps[2] must be a map id in 1..4294967295, got " .. tostring(NAN)) },
  { "opts {maps={1, 0}}", function() return bpfmap.apply_writes({ w }, { maps = { 1, 0 } }) end,
    apply_arg(2, "maps[2] must be a map id in 1..4294967295, got 0") },
  { "opts {maps={w}}", function() return bpfmap.apply_writes({ w }, { maps = { w } }) end,
    apply_arg(2, "maps[1] must be a MapData or a map id, got userdata") },
  { "opts {map=1, maps={1}}", function() return bpfmap.apply_writes({ w }, { map = 1, maps = { 1 } }) end,
    apply_arg(2, "give map or maps, not both") },
  -- opts.prog
  { "opts {prog=true}", function() return bpfmap.apply_writes({ w }, { prog = true }) end,
    apply_arg(2, "prog must be a program id or name, got boolean") },
  { "opts {prog=table}", function() return bpfmap.apply_writes({ w }, { prog = {} }) end,
    apply_arg(2, "prog must be a program id or name, got table") },
  { "opts {prog=BpfMapWrite}", function() return bpfmap.apply_writes({ w }, { prog = w }) end,
    apply_arg(2, "prog must be a program id or name, got userdata") },
  { "opts {prog=NaN}", function() return bpfmap.apply_writes({ w }, { prog = NAN }) end,
    apply_arg(2, "prog must be a program id in 1..4294967295 or a name, got " .. tostring(NAN)) },
  { "opts {prog=inf}", function() return bpfmap.apply_writes({ w }, { prog = INF }) end,
    apply_arg(2, "prog must be a program id in 1..4294967295 or a name, got inf") },
  { "opts {prog=0}", function() return bpfmap.apply_writes({ w }, { prog = 0 }) end,
    apply_arg(2, "prog must be a program id in 1..4294967295 or a name, got 0") },
  { "opts {prog=-1}", function() return bpfmap.apply_writes({ w }, { prog = -1 }) end,
    apply_arg(2, "prog must be a program id in 1..4294967295 or a name, got -1") },
  { "opts {prog=2^32}", function() return bpfmap.apply_writes({ w }, { prog = 1 << 32 }) end,
    apply_arg(2, "prog must be a program id in 1..4294967295 or a name, got 4294967296") },
  { "opts {prog=mininteger}", function() return bpfmap.apply_writes({ w }, { prog = MININT }) end,
    apply_arg(2, "prog must be a program id in 1..4294967295 or a name, got -9223372036854775808") },
  { "opts {prog=''}", function() return bpfmap.apply_writes({ w }, { prog = "" }) end,
    apply_arg(2, "prog must be a program name of 1..15 letters, digits, '_' or '.'") },
  { "opts {prog='a' NUL 'b'}", function() return bpfmap.apply_writes({ w }, { prog = "a\0b" }) end,
    apply_arg(2, "prog must be a program name of 1..15 letters, digits, '_' or '.'") },
  { "opts {prog='\\xff'}", function() return bpfmap.apply_writes({ w }, { prog = "\xff" }) end,
    apply_arg(2, "prog must be a program name of 1..15 letters, digits, '_' or '.'") },
  { "opts {prog=16 bytes}", function() return bpfmap.apply_writes({ w }, { prog = ("p"):rep(16) }) end,
    apply_arg(2, "prog must be a program name of 1..15 letters, digits, '_' or '.'") },
  -- opts.atomic, opts.report
  { "opts {atomic=1}", function() return bpfmap.apply_writes({ w }, { atomic = 1 }) end,
    apply_arg(2, "atomic must be a boolean, got number") },
  { "opts {atomic='yes'}", function() return bpfmap.apply_writes({ w }, { atomic = "yes" }) end,
    apply_arg(2, "atomic must be a boolean, got string") },
  { "opts {report=0}", function() return bpfmap.apply_writes({ w }, { report = 0 }) end,
    apply_arg(2, "report must be a boolean, got number") },
  { "opts {report=table}", function() return bpfmap.apply_writes({ w }, { report = {} }) end,
    apply_arg(2, "report must be a boolean, got table") },
  -- opts.timeout, opts.interval
  { "opts {timeout='1'}", function() return bpfmap.apply_writes({ w }, { timeout = "1" }) end,
    apply_arg(2, "timeout must be a number of seconds, got string") },
  { "opts {timeout=true}", function() return bpfmap.apply_writes({ w }, { timeout = true }) end,
    apply_arg(2, "timeout must be a number of seconds, got boolean") },
  { "opts {timeout=NaN}", function() return bpfmap.apply_writes({ w }, { timeout = NAN }) end,
    apply_arg(2, "timeout must be in 0 .. 1e9 seconds, got " .. tostring(NAN)) },
  { "opts {timeout=inf}", function() return bpfmap.apply_writes({ w }, { timeout = INF }) end,
    apply_arg(2, "timeout must be in 0 .. 1e9 seconds, got inf") },
  { "opts {timeout=-inf}", function() return bpfmap.apply_writes({ w }, { timeout = -INF }) end,
    apply_arg(2, "timeout must be in 0 .. 1e9 seconds, got -inf") },
  { "opts {timeout=-1}", function() return bpfmap.apply_writes({ w }, { timeout = -1 }) end,
    apply_arg(2, "timeout must be in 0 .. 1e9 seconds, got -1") },
  { "opts {timeout=1e10}", function() return bpfmap.apply_writes({ w }, { timeout = 1e10 }) end,
    apply_arg(2, "timeout must be in 0 .. 1e9 seconds, got " .. tostring(1e10)) },
  { "opts {timeout=mininteger}", function() return bpfmap.apply_writes({ w }, { timeout = MININT }) end,
    apply_arg(2, "timeout must be in 0 .. 1e9 seconds, got -9223372036854775808") },
  { "opts {interval=0}", function() return bpfmap.apply_writes({ w }, { interval = 0 }) end,
    apply_arg(2, "interval must be above 0 and at most 1e9 seconds, got 0") },
  { "opts {interval=NaN}", function() return bpfmap.apply_writes({ w }, { interval = NAN }) end,
    apply_arg(2, "interval must be above 0 and at most 1e9 seconds, got " .. tostring(NAN)) },
  { "opts {interval=-1}", function() return bpfmap.apply_writes({ w }, { interval = -1 }) end,
    apply_arg(2, "interval must be above 0 and at most 1e9 seconds, got -1") },
  { "opts {interval=inf}", function() return bpfmap.apply_writes({ w }, { interval = INF }) end,
    apply_arg(2, "interval must be above 0 and at most 1e9 seconds, got inf") },
  { "opts {interval=table}", function() return bpfmap.apply_writes({ w }, { interval = {} }) end,
    apply_arg(2, "interval must be a number of seconds, got table") },
  -- which function the message names, and where it points
  { "apply_writes(nil) names apply_writes and the caller's line",
    function() return bpfmap.apply_writes(nil) end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.equal("bad argument #1 to 'apply_writes' (writes must be a list of BpfMapWrite, got nil)",
        strip(err))
      assert.matches("^[^%s:]*bad_input_spec%.lua:%d+: ", err)
    end) },
  { "apply_writes({w}, 5) names apply_writes and the caller's line",
    function() return bpfmap.apply_writes({ w }, 5) end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.equal("bad argument #2 to 'apply_writes' (table expected, got number)", strip(err))
      assert.matches("^[^%s:]*bad_input_spec%.lua:%d+: ", err)
    end) },
  { "w:apply({bogus=1}) names apply and the caller's line",
    function() return w:apply({ bogus = 1 }) end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.matches("^[^%s:]*bad_input_spec%.lua:%d+: bad argument #%d to 'apply' %(unknown option 'bogus'%)$", err)
    end) },

  -- set_log
  { "set_log()", function() return bpfmap.set_log() end,
    bad(1, "set_log", "string expected, got no value") },
  { "set_log(nil)", function() return bpfmap.set_log(nil) end,
    bad(1, "set_log", "string expected, got nil") },
  { "set_log(true)", function() return bpfmap.set_log(true) end,
    bad(1, "set_log", "string expected, got boolean") },
  { "set_log(table)", function() return bpfmap.set_log({}) end,
    bad(1, "set_log", "string expected, got table") },
  { "set_log(coroutine)", function() return bpfmap.set_log(CO) end,
    bad(1, "set_log", "string expected, got thread") },
  { "set_log(2)", function() return bpfmap.set_log(2) end,
    bad(1, "set_log", "invalid option '2'") },
  { "set_log(NaN)", function() return bpfmap.set_log(NAN) end,
    bad(1, "set_log", "invalid option '" .. tostring(NAN) .. "'") },
  { "set_log('loud')", function() return bpfmap.set_log("loud") end,
    bad(1, "set_log", "invalid option 'loud'") },
  { "set_log('')", function() return bpfmap.set_log("") end,
    bad(1, "set_log", "invalid option ''") },
  { "set_log('OFF')", function() return bpfmap.set_log("OFF") end,
    bad(1, "set_log", "invalid option 'OFF'") },
  { "set_log('\\xff')", function() return bpfmap.set_log("\xff") end,
    bad(1, "set_log", "invalid option '\xff'") },
  { "set_log('debug' NUL 'x')", function() return bpfmap.set_log("debug\0x"), bpfmap.set_log("off") end,
    must_raise("invalid option 'debug") },

  -- sleep(seconds): a number in 0..1e9
  { "sleep()", function() return bpfmap.sleep() end,
    apply_arg(1, "number expected, got no value") },
  { "sleep('1')", function() return bpfmap.sleep("x") end,
    apply_arg(1, "number expected, got string") },
  { "sleep(table)", function() return bpfmap.sleep({}) end,
    apply_arg(1, "number expected, got table") },
  { "sleep(-1)", function() return bpfmap.sleep(-1) end,
    apply_arg(1, "seconds must be in 0..1e9") },
  { "sleep(1e10)", function() return bpfmap.sleep(1e10) end,
    apply_arg(1, "seconds must be in 0..1e9") },
  { "sleep(NaN)", function() return bpfmap.sleep(NAN) end,
    apply_arg(1, "seconds must be in 0..1e9") },
  { "sleep(inf)", function() return bpfmap.sleep(INF) end,
    apply_arg(1, "seconds must be in 0..1e9") },

  -- hex(value [, sep])
  { "hex(5)", function() return bpfmap.hex(5) end,
    bad(1, "hex", "string or list of strings expected, got number") },
  { "hex(true)", function() return bpfmap.hex(true) end,
    bad(1, "hex", "string or list of strings expected, got boolean") },
  { "hex({5})", function() return bpfmap.hex({ 5 }) end,
    bad(1, "hex", "string or list of strings expected, got number") },
  { "hex('x', 0)", function() return bpfmap.hex("x", 0) end,
    bad(2, "hex", "string expected, got number") },

  -- functions without parameters ignore extra arguments, as Lua's own do
  { "monotonic(junk)", function() return bpfmap.monotonic(NAN, {}) end,
    returns(function(t) assert.is_number(t) end) },
  { "last_log(junk)", function() return bpfmap.last_log(NAN, {}, CO) end,
    returns(function(s) assert.is_string(s) end) },
  { "clear_cache(junk)", function() return bpfmap.clear_cache(true, "x") end, returns() },
  { "loaded_maps(junk)", function() return bpfmap.loaded_maps(-1, NAN) end,
    returns(function(f) assert.is_function(f) end) },
}

---------------------------------------------------------------------------
-- Rows on live handles and on what the kernel says.

local F = {} -- fixtures, filled in by setup

local function mdm() return MapData.methods end
local function btfm() return getmetatable(F.btf).__index end

local function prefix_fd_kind()
  return string.format("from_fd %d: not a BPF map (it is btf)", F.btf:fd())
end

local LIVE = {
  -- create: handles where numbers are expected, and the kernel's refusals
  { "create(def, name, btf_fd=Btf)", function() return create(nil, F.btf) end,
    bad(3, "create", "btf_fd must be an integer, got userdata") },
  { "create(def, name, btf_fd=MapData)", function() return create(nil, F.m) end,
    bad(3, "create", "btf_fd must be an integer, got userdata") },
  { "create def inner_map_fd=MapInfo", function() return create({ inner_map_fd = F.info }) end,
    bad(1, "create", "field 'inner_map_fd' must be an integer, got userdata") },
  { "create def inner_map_fd=Btf", function() return create({ inner_map_fd = F.btf }) end,
    bad(1, "create", "field 'inner_map_fd' must be an integer, got userdata") },
  { "create def inner_map_fd=closed MapData", function() return create({ inner_map_fd = F.closed }) end,
    bad(1, "create", "field 'inner_map_fd' is a closed MapData") },
  { "create def type=MapData", function() return create({ type = F.m }) end,
    bad(1, "create", "field 'type' must be a name or a number, got userdata") },
  { "create(MapInfo, name)", function() return MapData.create(F.info, "x") end,
    bad(1, "create", "table expected, got bpfmap.MapInfo") },
  { "create(def, MapData)", function() return MapData.create(def(), F.m) end,
    bad(2, "create", "name must be a string, got userdata") },
  { "create value_size=0 (kernel refuses)", function() return create({ value_size = 0 }) end,
    fails(E.EINVAL, "create array map 'bpfmapt_bad': Invalid argument") },
  { "create type=1000 (kernel refuses)", function() return create({ type = 1000 }) end,
    fails(E.EINVAL, "create map 'bpfmapt_bad' of type 1000: Invalid argument") },
  { "create type=4294967295 (kernel refuses, message shows the type given)",
    function() return create({ type = 4294967295 }) end,
    fails(E.EINVAL, "create map 'bpfmapt_bad' of type 4294967295: Invalid argument") },
  { "create hash max_entries=4294967295 (kernel refuses)",
    function() return create({ type = "hash", max_entries = 4294967295 }) end,
    fails(E.E2BIG, "create hash map 'bpfmapt_bad': Argument list too long") },
  { "create array value_size=4294967295 (kernel refuses)",
    function() return create({ value_size = 4294967295 }) end,
    fails(E.E2BIG, "create array map 'bpfmapt_bad': Argument list too long") },
  { "create flags=4294967295 (kernel refuses)", function() return create({ flags = 4294967295 }) end,
    fails(E.EINVAL, "create array map 'bpfmapt_bad': Invalid argument") },
  { "create array map_extra=maxinteger (kernel refuses)", function() return create({ map_extra = MAXINT }) end,
    fails(E.EINVAL, "create array map 'bpfmapt_bad': Invalid argument") },
  { "create btf_fd=2147483647 with btf_value_type_id (kernel refuses)",
    function() return create({ btf_value_type_id = 1 }, 2147483647) end,
    fails(E.EBADF, "create array map 'bpfmapt_bad': Bad file descriptor") },
  { "create btf_value_type_id=4294967295 (kernel refuses)",
    function() return create({ btf_value_type_id = 4294967295 }, F.btf:fd()) end,
    fails(E.EINVAL, "create array map 'bpfmapt_bad': Invalid argument") },
  { "create array_of_maps inner_map_fd=2147483647 (kernel refuses)",
    function() return create({ type = "array_of_maps", value_size = 4, inner_map_fd = 2147483647 }) end,
    fails(E.EBADF, "create array_of_maps map 'bpfmapt_bad': Bad file descriptor") },
  { "create numa_node=100000 with flag numa_node (kernel refuses)",
    function() return create({ numa_node = 100000, flags = { "numa_node" } }) end,
    fails(E.EINVAL, "create array map 'bpfmapt_bad': Invalid argument") },
  { "create ifindex=4294967295 (kernel refuses)", function() return create({ ifindex = 4294967295 }) end,
    fails(E.EINVAL, "create array map 'bpfmapt_bad': Invalid argument") },

  -- from_pin, from_id, from_fd, Btf.from_id: handles and the kernel's refusals
  { "from_pin(MapData)", function() return MapData.from_pin(F.m) end,
    bad(1, "from_pin", "path must be a string, got userdata") },
  { "from_id(MapData)", function() return MapData.from_id(F.m) end,
    bad(1, "from_id", "id must be an integer, got userdata") },
  { "from_fd(MapInfo)", function() return MapData.from_fd(F.info) end,
    bad(1, "from_fd", "fd must be an integer, got userdata") },
  { "Btf.from_id(Btf)", function() return Btf.from_id(F.btf) end,
    bad(1, "from_id", "id must be an integer, got userdata") },
  { "from_pin(a directory)", function() return MapData.from_pin(F.fs.dir) end,
    fails(E.EACCES, function() return "from_pin " .. F.fs.dir .. ": Permission denied" end) },
  { "from_pin(a program's pin)", function() return MapData.from_pin(F.prog_pin) end,
    fails(E.EINVAL, function() return "from_pin " .. F.prog_pin .. ": not a BPF map (it is bpf-prog)" end) },
  { "from_pin(missing path)", function() return MapData.from_pin("/nonexistent/bpfmapt") end,
    fails(E.ENOENT, "from_pin /nonexistent/bpfmapt: No such file or directory") },
  { "from_pin(high bytes)", function() return MapData.from_pin("\xff\xfe") end,
    fails(E.ENOENT, "from_pin \xff\xfe: No such file or directory") },
  { "from_pin(5000-byte path)", function() return MapData.from_pin(("a"):rep(5000)) end,
    fails(E.ENAMETOOLONG, "from_pin " .. ("a"):rep(5000) .. ": File name too long") },
  { "from_id(0) (no such map)", function() return MapData.from_id(0) end,
    fails(E.ENOENT, "from_id 0: No such file or directory") },
  { "from_id(4294967295) (no such map)", function() return MapData.from_id(4294967295) end,
    fails(E.ENOENT, "from_id 4294967295: No such file or directory") },
  { "from_fd(2147483647) (not open)", function() return MapData.from_fd(2147483647) end,
    fails(E.EBADF, "from_fd 2147483647: Bad file descriptor") },
  { "from_fd(a BTF descriptor)", function() return MapData.from_fd(F.btf:fd()) end,
    fails(E.EINVAL, prefix_fd_kind) },
  { "Btf.from_id(0) (no such BTF)", function() return Btf.from_id(0) end,
    fails(E.ENOENT, "Btf.from_id 0: No such file or directory") },
  { "Btf.from_id(4294967295) (no such BTF)", function() return Btf.from_id(4294967295) end,
    fails(E.ENOENT, "Btf.from_id 4294967295: No such file or directory") },

  -- m:pin
  { "m:pin()", function() return F.m:pin() end,
    bad(1, "pin", "path must be a string, got no value") },
  { "m:pin(nil)", function() return F.m:pin(nil) end,
    bad(1, "pin", "path must be a string, got nil") },
  { "m:pin(42)", function() return F.m:pin(42) end,
    bad(1, "pin", "path must be a string, got number") },
  { "m:pin(true)", function() return F.m:pin(true) end,
    bad(1, "pin", "path must be a string, got boolean") },
  { "m:pin(table)", function() return F.m:pin({}) end,
    bad(1, "pin", "path must be a string, got table") },
  { "m:pin(function)", function() return F.m:pin(FN) end,
    bad(1, "pin", "path must be a string, got function") },
  { "m:pin(MapInfo)", function() return F.m:pin(F.info) end,
    bad(1, "pin", "path must be a string, got userdata") },
  { "m:pin('')", function() return F.m:pin("") end,
    bad(1, "pin", "path must not be empty") },
  { "m:pin(path with NUL)", function() return F.m:pin(F.fs.dir .. "/x\0y") end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.equal(bad(1, "pin", string.format("path must not contain an embedded NUL (byte %d)",
        #F.fs.dir + 2)), strip(err))
    end) },
  { "m:pin outside bpffs (kernel refuses)", function() return F.m:pin("/tmp/bpfmapt_never") end,
    fails(E.EPERM, "pin /tmp/bpfmapt_never (/tmp is not on a bpf filesystem): Operation not permitted") },
  { "m:pin relative path outside bpffs (kernel refuses)", function() return F.m:pin("bpfmapt_rel") end,
    fails(E.EPERM, "pin bpfmapt_rel (. is not on a bpf filesystem): Operation not permitted") },
  { "m:pin over an existing file (kernel refuses)", function() return F.m:pin(F.fs.dir .. "/maps.debug") end,
    fails(E.EEXIST, function() return "pin " .. F.fs.dir .. "/maps.debug: File exists" end) },
  { "m:pin in a missing directory (kernel refuses)", function() return F.m:pin(F.fs.dir .. "/no/x") end,
    fails(E.ENOENT, function() return "pin " .. F.fs.dir .. "/no/x: No such file or directory" end) },
  { "m:pin 300-byte name (kernel refuses)", function() return F.m:pin(F.fs.dir .. "/" .. ("a"):rep(300)) end,
    fails(E.ENAMETOOLONG, function() return "pin " .. F.fs.dir .. "/" .. ("a"):rep(300) .. ": File name too long" end) },
  { "m:pin 6000-byte path (kernel refuses)", function() return F.m:pin(("/a"):rep(3000)) end,
    fails(E.ENAMETOOLONG, "pin " .. ("/a"):rep(3000) .. ": File name too long") },
  -- MapData methods on a closed handle
  { "closed:pin(path)", function() return F.closed:pin(F.fs.dir .. "/stolen") end, CLOSED },
  { "closed:pin(nil)", function() return F.closed:pin(nil) end, CLOSED },
  { "closed:fd()", function() return F.closed:fd() end, CLOSED },
  { "closed:id()", function() return F.closed:id() end, CLOSED },
  { "closed:info()", function() return F.closed:info() end, CLOSED },
  { "closed:close() again", function() return F.closed:close() end,
    returns(function(v) assert.is_true(v) end) },
  { "tostring(closed)", function() return tostring(F.closed) end,
    returns(function(s) assert.equal("MapData (closed)", s) end) },
  -- MapData methods on something else
  { "MapData.methods.pin(MapInfo, path)", function() return mdm().pin(F.info, F.fs.dir .. "/x") end,
    bad(1, "pin", "bpfmap.MapData expected, got bpfmap.MapInfo") },
  { "MapData.methods.pin(nil, path)", function() return mdm().pin(nil, F.fs.dir .. "/x") end,
    bad(1, "pin", "bpfmap.MapData expected, got nil") },
  { "MapData.methods.fd(BpfMapWrite)", function() return mdm().fd(w) end,
    bad(1, "fd", "bpfmap.MapData expected, got bpfmap.BpfMapWrite") },
  { "MapData.methods.fd()", function() return mdm().fd() end,
    bad(1, "fd", "bpfmap.MapData expected, got no value") },
  { "MapData.methods.id(Btf)", function() return mdm().id(F.btf) end,
    bad(1, "id", "bpfmap.MapData expected, got bpfmap.Btf") },
  { "MapData.methods.id(42)", function() return mdm().id(42) end,
    bad(1, "id", "bpfmap.MapData expected, got number") },
  { "MapData.methods.info('x')", function() return mdm().info("x") end,
    bad(1, "info", "bpfmap.MapData expected, got string") },
  { "MapData.methods.info(io.stdout)", function() return mdm().info(io.stdout) end,
    bad(1, "info", "bpfmap.MapData expected, got FILE*") },
  { "MapData.methods.close(MapInfo)", function() return mdm().close(F.info) end,
    bad(1, "close", "bpfmap.MapData expected, got bpfmap.MapInfo") },
  { "MapData.methods.close(table)", function() return mdm().close({}) end,
    bad(1, "close", "bpfmap.MapData expected, got table") },
  { "MapData __tostring(MapInfo)", function() return getmetatable(F.m).__tostring(F.info) end,
    bad(1, "__tostring", "bpfmap.MapData expected, got bpfmap.MapInfo") },
  { "MapData __close(Btf)", function() return getmetatable(F.m).__close(F.btf) end,
    bad(1, "__close", "bpfmap.MapData expected, got bpfmap.Btf") },

  -- MapInfo field access
  { "info.nope", function() return F.info.nope end, "MapInfo has no field 'nope'" },
  { "info.Id", function() return F.info.Id end, "MapInfo has no field 'Id'" },
  { "info['']", function() return F.info[""] end, "MapInfo has no field ''" },
  { "info[1]", function() return F.info[1] end, "MapInfo has no field '1'" },
  { "info[1.5]", function() return F.info[1.5] end, "MapInfo has no field '1.5'" },
  { "info[NaN]", function() return F.info[NAN] end, "MapInfo has no field '" .. tostring(NAN) .. "'" },
  { "info[true]", function() return F.info[true] end, "MapInfo has no field 'true'" },
  { "info[nil]", function() return F.info[nil] end, "MapInfo has no field 'nil'" },
  { "info[table]", function() return F.info[{}] end, has("MapInfo has no field 'table: 0x") },
  { "info[MapData]", function() return F.info[F.m] end, has("MapInfo has no field 'MapData ") },
  { "info['\\xff']", function() return F.info["\xff"] end, "MapInfo has no field '\xff'" },
  { "info['id' NUL] is quoted whole", function() return F.info["id\0"] end,
    raises_quoting("MapInfo has no field 'id") },
  { "info.id = 1", function() F.info.id = 1 end, has("attempt to index a bpfmap.MapInfo value") },
  { "MapInfo __index(MapData, 'id')", function() return getmetatable(F.info).__index(F.m, "id") end,
    bad(1, "__index", "bpfmap.MapInfo expected, got bpfmap.MapData") },
  { "MapInfo __index(nil, 'id')", function() return getmetatable(F.info).__index(nil, "id") end,
    bad(1, "__index", "bpfmap.MapInfo expected, got nil") },
  { "MapInfo __pairs(table)", function() return getmetatable(F.info).__pairs({}) end,
    bad(1, "__pairs", "bpfmap.MapInfo expected, got table") },
  { "MapInfo __tostring(BpfMapWrite)", function() return getmetatable(F.info).__tostring(w) end,
    bad(1, "__tostring", "bpfmap.MapInfo expected, got bpfmap.BpfMapWrite") },
  { "pairs(info) iterator given a table key", function()
      local next_field, state = pairs(F.info)
      return next_field(state, {})
    end, has("string expected, got table") },

  -- Btf methods
  { "btf:find()", function() return F.btf:find() end,
    bad(1, "find", "name must be a string, got no value") },
  { "btf:find(nil)", function() return F.btf:find(nil) end,
    bad(1, "find", "name must be a string, got nil") },
  { "btf:find(42)", function() return F.btf:find(42) end,
    bad(1, "find", "name must be a string, got number") },
  { "btf:find(true)", function() return F.btf:find(true) end,
    bad(1, "find", "name must be a string, got boolean") },
  { "btf:find(table)", function() return F.btf:find({}) end,
    bad(1, "find", "name must be a string, got table") },
  { "btf:find(MapData)", function() return F.btf:find(F.m) end,
    bad(1, "find", "name must be a string, got userdata") },
  { "btf:find('')", function() return F.btf:find("") end,
    bad(1, "find", "name must not be empty") },
  { "btf:find('a' NUL 'b')", function() return F.btf:find("a\0b") end,
    bad(1, "find", "name must not contain an embedded NUL (byte 1)") },
  { "btf:find(high bytes) finds nothing", function() return F.btf:find("\xff\xfe") end,
    returns(function(v) assert.is_nil(v) end) },
  { "btf:find(name, 'bogus')", function() return F.btf:find(".data", "bogus") end,
    bad(2, "find", "invalid option 'bogus'") },
  { "btf:find(name, 'DATASEC')", function() return F.btf:find(".data", "DATASEC") end,
    bad(2, "find", "invalid option 'DATASEC'") },
  { "btf:find(name, '')", function() return F.btf:find(".data", "") end,
    bad(2, "find", "invalid option ''") },
  { "btf:find(name, 7)", function() return F.btf:find(".data", 7) end,
    bad(2, "find", "invalid option '7'") },
  { "btf:find(name, true)", function() return F.btf:find(".data", true) end,
    bad(2, "find", "string expected, got boolean") },
  { "btf:find(name, table)", function() return F.btf:find(".data", {}) end,
    bad(2, "find", "string expected, got table") },
  { "btf:find(name, 'datasec' NUL 'x')", function() return F.btf:find(".data", "datasec\0x") end,
    must_raise("invalid option 'datasec") },
  { "btf:type_name()", function() return F.btf:type_name() end,
    bad(1, "type_name", "type id must be an integer, got no value") },
  { "btf:type_name(nil)", function() return F.btf:type_name(nil) end,
    bad(1, "type_name", "type id must be an integer, got nil") },
  { "btf:type_name('x')", function() return F.btf:type_name("x") end,
    bad(1, "type_name", "type id must be an integer, got string") },
  { "btf:type_name(table)", function() return F.btf:type_name({}) end,
    bad(1, "type_name", "type id must be an integer, got table") },
  { "btf:type_name(NaN)", function() return F.btf:type_name(NAN) end,
    bad(1, "type_name", "type id must be an integer, got " .. tostring(NAN)) },
  { "btf:type_name(inf)", function() return F.btf:type_name(INF) end,
    bad(1, "type_name", "type id must be an integer, got inf") },
  { "btf:type_name(1.5)", function() return F.btf:type_name(1.5) end,
    bad(1, "type_name", "type id must be an integer, got 1.5") },
  { "btf:type_name(-1)", function() return F.btf:type_name(-1) end,
    bad(1, "type_name", "type id must be in 0..4294967295, got -1") },
  { "btf:type_name(2^32)", function() return F.btf:type_name(1 << 32) end,
    bad(1, "type_name", "type id must be in 0..4294967295, got 4294967296") },
  { "btf:type_name(2^53+1)", function() return F.btf:type_name(F53) end,
    bad(1, "type_name", "type id must be in 0..4294967295, got 9007199254740992") },
  { "btf:type_name(mininteger)", function() return F.btf:type_name(MININT) end,
    bad(1, "type_name", "type id must be in 0..4294967295, got -9223372036854775808") },
  { "btf:type_name(1000000) past the last type", function() return F.btf:type_name(1000000) end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.equal(bad(1, "type_name", string.format("type id 1000000 is not in BTF id %d", F.btf:id())),
        strip(err))
    end) },
  { "btf:type_name(4294967295) past the last type", function() return F.btf:type_name(4294967295) end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.equal(bad(1, "type_name", string.format("type id 4294967295 is not in BTF id %d", F.btf:id())),
        strip(err))
    end) },
  -- Btf methods on something else, and on a closed Btf
  { "Btf fd(MapData)", function() return btfm().fd(F.m) end,
    bad(1, "fd", "bpfmap.Btf expected, got bpfmap.MapData") },
  { "Btf id(nil)", function() return btfm().id(nil) end,
    bad(1, "id", "bpfmap.Btf expected, got nil") },
  { "Btf find(MapInfo, name)", function() return btfm().find(F.info, ".data") end,
    bad(1, "find", "bpfmap.Btf expected, got bpfmap.MapInfo") },
  { "Btf type_name(BpfMapWrite, 1)", function() return btfm().type_name(w, 1) end,
    bad(1, "type_name", "bpfmap.Btf expected, got bpfmap.BpfMapWrite") },
  { "Btf close(MapData)", function() return btfm().close(F.m) end,
    bad(1, "close", "bpfmap.Btf expected, got bpfmap.MapData") },
  { "Btf __tostring(table)", function() return getmetatable(F.btf).__tostring({}) end,
    bad(1, "__tostring", "bpfmap.Btf expected, got table") },
  { "closed_btf:fd()", function() return F.closed_btf:fd() end, CLOSED_BTF },
  { "closed_btf:id()", function() return F.closed_btf:id() end, CLOSED_BTF },
  { "closed_btf:find(name)", function() return F.closed_btf:find(".data") end, CLOSED_BTF },
  { "closed_btf:find(nil)", function() return F.closed_btf:find(nil) end, CLOSED_BTF },
  { "closed_btf:type_name(1)", function() return F.closed_btf:type_name(1) end, CLOSED_BTF },
  { "closed_btf:close() again", function() return F.closed_btf:close() end,
    returns(function(v) assert.is_true(v) end) },
  { "tostring(closed_btf)", function() return tostring(F.closed_btf) end,
    returns(function(s) assert.equal("Btf (closed)", s) end) },

  -- BpfMapWrite methods on handles of other kinds, and == with them
  { "BpfMapWrite.methods.field(MapData)", function() return BpfMapWrite.methods.field(F.m) end,
    bad(1, "field", "bpfmap.BpfMapWrite expected, got bpfmap.MapData") },
  { "BpfMapWrite.methods.map_name_suffix(MapInfo)", function() return BpfMapWrite.methods.map_name_suffix(F.info) end,
    bad(1, "map_name_suffix", "bpfmap.BpfMapWrite expected, got bpfmap.MapInfo") },
  { "BpfMapWrite.methods.value(Btf)", function() return BpfMapWrite.methods.value(F.btf) end,
    bad(1, "value", "bpfmap.BpfMapWrite expected, got bpfmap.Btf") },
  { "BpfMapWrite == MapData is false", function() return w == F.m end,
    returns(function(v) assert.is_false(v) end) },
  { "MapData == BpfMapWrite is false", function() return F.m == w end,
    returns(function(v) assert.is_false(v) end) },
  { "BpfMapWrite == MapInfo is false", function() return w == F.info end,
    returns(function(v) assert.is_false(v) end) },

  -- apply: handles of the wrong kind or closed
  { "apply_writes(MapData)", function() return bpfmap.apply_writes(F.m) end,
    apply_arg(1, "writes must be a list of BpfMapWrite, got userdata") },
  { "apply_writes({MapData})", function() return bpfmap.apply_writes({ F.m }) end,
    apply_arg(1, "writes[1] must be a BpfMapWrite, got userdata") },
  { "apply_writes({w, MapInfo})", function() return bpfmap.apply_writes({ w, F.info }) end,
    apply_arg(1, "writes[2] must be a BpfMapWrite, got userdata") },
  { "apply_writes({w}, MapData)", function() return bpfmap.apply_writes({ w }, F.m) end,
    apply_arg(2, "table expected, got bpfmap.MapData") },
  { "opts {map=MapInfo}", function() return bpfmap.apply_writes({ w }, { map = F.info }) end,
    apply_arg(2, "map must be a MapData or a map id, got userdata") },
  { "opts {map=Btf}", function() return bpfmap.apply_writes({ w }, { map = F.btf }) end,
    apply_arg(2, "map must be a MapData or a map id, got userdata") },
  { "opts {map=closed MapData}", function() return bpfmap.apply_writes({ w }, { map = F.closed }) end,
    apply_arg(2, "map is a closed MapData") },
  { "w:apply{map=closed MapData}", function() return w:apply({ map = F.closed }) end,
    must_raise("map is a closed MapData") },
  { "opts {maps={m, closed}}", function() return bpfmap.apply_writes({ w }, { maps = { F.m, F.closed } }) end,
    apply_arg(2, "maps[2] is a closed MapData") },
  { "opts {maps={m, MapInfo}}", function() return bpfmap.apply_writes({ w }, { maps = { F.m, F.info } }) end,
    apply_arg(2, "maps[2] must be a MapData or a map id, got userdata") },
  { "opts {maps={m, x=m}} list plus a key", function() return bpfmap.apply_writes({ w }, { maps = { F.m, x = F.plain } }) end,
    must_raise("maps") },
  { "opts {[MapData]=1}", function() return bpfmap.apply_writes({ w }, { [F.m] = 1 }) end,
    custom(function(ok, err)
      assert.is_false(ok)
      assert.is_truthy(strip(err):find("(unknown option 'MapData ", 1, true), err)
    end) },
  -- apply: legal writes the map refuses (nothing may be stored)
  { "write data_limit=2^32 into a u32 (ERANGE)",
    function() return BpfMapWrite.new(".fd", "data_limit", 1 << 32):apply({ map = F.m }) end,
    fails(E.ERANGE, function()
      return string.format("write .fd data_limit=4294967296: map 'bpfmapt_bi.fd' (id %d) field "
        .. "'data_limit' (__u32 at offset 4): value 4294967296 out of range 0..4294967295; "
        .. "nothing written", F.m:id())
    end) },
  { "write data_limit=-1 into a u32 (ERANGE)",
    function() return BpfMapWrite.new(".fd", "data_limit", -1):apply({ map = F.m }) end,
    fails(E.ERANGE, "write .fd data_limit=-1: map 'bpfmapt_bi.fd'") },
  { "write data_limit=mininteger into a u32 (ERANGE)",
    function() return BpfMapWrite.new(".fd", "data_limit", MININT):apply({ map = F.m }) end,
    fails(E.ERANGE, "write .fd data_limit=-9223372036854775808: map 'bpfmapt_bi.fd'") },
  { "write data_counter=2^31 into an int (ERANGE)",
    function() return BpfMapWrite.new(".fd", "data_counter", 1 << 31):apply({ map = F.m }) end,
    fails(E.ERANGE, "write .fd data_counter=2147483648: map 'bpfmapt_bi.fd'") },
  { "batch of a good write then an out-of-range one (ERANGE, nothing stored)",
    function() return bpfmap.apply_writes({ W(".fd", "data_counter", 9), W(".fd", "data_limit", -1) },
      { map = F.m }) end,
    fails(E.ERANGE, "write .fd data_limit=-1: map 'bpfmapt_bi.fd'") },
  { "write a field the map does not have (ENOENT)",
    function() return BpfMapWrite.new(".fd", "nosuch", 1):apply({ map = F.m }) end,
    fails(E.ENOENT, "write .fd nosuch=1: no map named '*.fd' among the maps given in opts has field 'nosuch'") },
  { "write data_limit[0], an index into a u32",
    function() return BpfMapWrite.new(".fd", "data_limit[0]", 1):apply({ map = F.m }) end,
    fails(nil, "write .fd data_limit[0]=1: ") },
  { "write data_limit.x, a member of a u32",
    function() return BpfMapWrite.new(".fd", "data_limit.x", 1):apply({ map = F.m }) end,
    fails(nil, "write .fd data_limit.x=1: ") },
  { "write arr[4294967296], an index past u32 (ENOENT)",
    function() return BpfMapWrite.new(".bss", "arr[4294967296]", 1):apply({ map = F.bss }) end,
    fails(E.ENOENT, "write .bss arr[4294967296]=1: no map named '*.bss' among the maps given in opts has field 'arr[4294967296]'") },
  { "write arr[9999999999] (ENOENT)",
    function() return BpfMapWrite.new(".bss", "arr[9999999999]", 1):apply({ map = F.bss }) end,
    fails(E.ENOENT, "write .bss arr[9999999999]=1: no map named '*.bss' among the maps given in opts has field 'arr[9999999999]'") },
  { "write grid[3][0], one row past the end (ENOENT)",
    function() return BpfMapWrite.new(".bss", "grid[3][0]", 1):apply({ map = F.bss }) end,
    fails(E.ENOENT, "write .bss grid[3][0]=1: no map named '*.bss' among the maps given in opts has field 'grid[3][0]'") },
  { "write through a suffix the map's name does not end in (ENOENT)",
    function() return BpfMapWrite.new(".bss", "data_limit", 1):apply({ map = F.m }) end,
    fails(E.ENOENT, "write .bss data_limit=1: no loaded array map whose name ends in '.bss' among the maps given in opts") },
  { "write into map id 4294967295 (ENOENT)",
    function() return w:apply({ map = 4294967295 }) end,
    fails(E.ENOENT, "apply: open map id 4294967295: No such file or directory") },
  { "write into map id 4294967295 with a timeout (ENOENT, gave up)",
    function() return w:apply({ map = 4294967295, timeout = 0.05, interval = 0.01 }) end,
    fails(E.ENOENT, "apply: open map id 4294967295: No such file or directory (gave up after 0.05s)") },
  { "write narrowed to program id 4294967295 (ENOENT)",
    function() return w:apply({ prog = 4294967295 }) end,
    fails(E.ENOENT, "apply: no loaded program with id 4294967295") },
  { "write narrowed to program 'bpfmapt_none' (ENOENT)",
    function() return w:apply({ prog = "bpfmapt_none" }) end,
    fails(E.ENOENT, "apply: no loaded program named 'bpfmapt_none'") },
  { "write into a frozen .rodata (EPERM)",
    function() return BpfMapWrite.new(".rodata", "ro_limit", 1):apply({ map = F.rodata }) end,
    fails(E.EPERM, "write .rodata ro_limit=1: map 'globals.rodata'") },
  { "write a map that is not mmapable with opts.atomic (ENOTSUP)",
    function() return w:apply({ map = F.plain, atomic = true }) end,
    fails(E.ENOTSUP, "write .fd data_limit=1: map 'bpfmapt_bp.fd'") },
  { "write into a map without BTF (ENOENT)",
    function() return w:apply({ map = F.nobtf }) end,
    fails(E.ENOENT, "write .fd data_limit=1: no map named '*.fd' among the maps given in opts has field 'data_limit'") },

  -- functions without parameters ignore extra arguments, as Lua's own do
  { "list_maps(junk)", function() return bpfmap.list_maps("x", F.m) end,
    returns(function(list, msg, errno)
      if list == nil then assert.is_string(msg) assert.is_number(errno) else assert.is_table(list) end
    end) },
  { "list_programs(junk)", function() return bpfmap.list_programs({}, NAN) end,
    returns(function(list, msg, errno)
      if list == nil then assert.is_string(msg) assert.is_number(errno) else assert.is_table(list) end
    end) },
  { "loaded_maps() iterator given junk", function()
      local next_map = bpfmap.loaded_maps()
      return next_map("x", F.m)
    end, returns() },
}

---------------------------------------------------------------------------

local function show(r, from)
  local t = {}
  for i = from, r.n do t[#t + 1] = tostring(r[i]) end
  return table.concat(t, ", ")
end

-- Close whatever handle a row returned by mistake, so none is left open.
local function close_results(r)
  for i = 2, r.n do
    local mt = getmetatable(r[i])
    if type(r[i]) == "userdata" and type(mt) == "table" and mt.__close then
      pcall(mt.__close, r[i])
    end
  end
end

local function check(row)
  local _, fn, want = row[1], row[2], row[3]
  local r = table.pack(pcall(fn))
  close_results(r)
  if type(want) == "string" then want = { exact = want } end
  if want.custom then
    return want.custom(table.unpack(r, 1, r.n))
  end
  if want.exact or want.has or want.apply_n then
    assert(not r[1], "did not raise; returned " .. show(r, 2))
    local msg = strip(r[2])
    if want.exact then
      assert.equal(want.exact, msg)
    elseif want.has then
      assert.is_truthy(msg:find(want.has, 1, true), msg)
    else
      local n, detail = msg:match("^bad argument #(%d+) to '[^']*' %((.*)%)$")
      assert.equal(string.format("argument %d: %s", want.apply_n, want.detail),
        string.format("argument %s: %s", tostring(n), tostring(detail)), msg)
    end
  elseif want.prefix then
    assert(r[1], "raised: " .. tostring(r[2]))
    assert.is_nil(r[2], "did not fail; returned " .. show(r, 2))
    assert.is_string(r[3])
    local prefix = type(want.prefix) == "function" and want.prefix() or want.prefix
    assert.equal(prefix, r[3]:sub(1, #prefix))
    if want.errno then assert.equal(want.errno, r[4], r[3]) else assert.is_number(r[4]) end
  else
    assert(r[1], "raised: " .. tostring(r[2]))
    if type(want.returns) == "function" then want.returns(table.unpack(r, 2, r.n)) end
  end
end

describe("bad input", function()
  local level
  local snapshot -- { [map id] = bytes } of the maps the rows aim at

  local function bytes_of_all()
    local t = {}
    for id in pairs(snapshot) do t[id] = bpfobj.map_bytes(id) end
    return t
  end

  setup(function()
    level = bpfmap.set_log("off")
    if not priv.can_create_map() then return end
    F.obj = bpfobj.load(OBJ)
    F.fs = bpffs.mount()
    F.prog_pin = F.obj.progs[1].pin
    F.rodata = F.obj:map(".rodata").id
    F.bss = F.obj:map(".bss").id
    local btf_id = bpfobj.map_show(F.obj:map("globals.data").id).btf_id
    F.btf = assert(Btf.from_id(btf_id))
    F.closed_btf = assert(Btf.from_id(btf_id))
    F.closed_btf:close()
    local datasec = assert(F.btf:find(".data", "datasec"))
    local function fd_map(name, flags)
      return assert(MapData.create({ type = "array", key_size = 4, value_size = 8, max_entries = 1,
        btf_value_type_id = datasec, flags = flags }, name, F.btf:fd()))
    end
    F.m = fd_map("bpfmapt_bi.fd", { "mmapable" })
    F.plain = fd_map("bpfmapt_bp.fd")
    F.nobtf = assert(MapData.create(def(), "bpfmapt_bn.fd"))
    F.info = F.m:info()
    F.closed = assert(MapData.create(def(), "bpfmapt_bc"))
    F.closed:close()
    bpfobj.map_update(F.m:id(), string.pack("<i4I4", -7, 0x5A5A5A5A))
    bpfobj.map_update(F.plain:id(), string.pack("<i4I4", 3, 0xC3C3C3C3))
    bpfobj.map_update(F.nobtf:id(), string.pack("<I4I4", 0x11223344, 0x55667788))
    snapshot = {}
    for _, id in ipairs({ F.m:id(), F.plain:id(), F.nobtf:id(), F.rodata,
      F.bss, F.obj:map("globals.data").id, F.obj:map(".data.custom").id }) do
      snapshot[id] = true
    end
    snapshot = bytes_of_all()
    -- what the rows refuse to write must not even be read through a warm cache
    assert.equal(string.pack("<i4I4", -7, 0x5A5A5A5A), snapshot[F.m:id()])
  end)

  teardown(function()
    bpfmap.set_log(level or "off")
    local ids = {}
    for _, k in ipairs({ "m", "plain", "nobtf" }) do
      if F[k] then
        ids[F[k]:id()] = true
        F[k]:close()
      end
    end
    if F.btf then F.btf:close() end
    if F.fs then F.fs:cleanup() end
    if F.obj then F.obj:unload() end
    collectgarbage()
    collectgarbage()
    if next(ids) then bpfobj.wait_gone(ids, "maps of bad_input_spec still loaded") end
  end)

  describe("raises before any syscall", function()
    for _, row in ipairs(PURE) do
      it(row[1], function() check(row) end)
    end
  end)

  priv.describe("on live handles and kernel refusals #priv", function()
    for _, row in ipairs(LIVE) do
      it(row[1], function() check(row) end)
    end
  end)

  priv.it("no map's content changed over the whole table #priv", function()
    local now = bytes_of_all()
    for id, bytes in pairs(snapshot) do
      assert.equal(bytes, now[id], "map id " .. id .. " changed")
    end
    assert.equal(string.pack("<i4I4", -7, 0x5A5A5A5A), now[F.m:id()])
  end)
end)
