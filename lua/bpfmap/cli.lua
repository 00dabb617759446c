--- bpfmap.cli: the `bpfmap` command (bin/bpfmap only dispatches here).
--
--   bpfmap list [PATTERN]            loaded maps, PATTERN a substring of the name
--   bpfmap show MAP                  one map's facts and the programs using it
--   bpfmap get MAP PATH [--key K]    one BTF field (m:get)
--   bpfmap set MAP PATH VALUE [--key K]   write one (m:set)
--   bpfmap dump MAP                  every entry, through BTF (m:dump)
--   bpfmap pin MAP PATH              pin a map in a bpf filesystem
--
-- MAP is an id (digits), a pinned path (contains '/'), or a name: a map
-- named exactly so, else the maps whose names end with it (".bss").
-- `--json` anywhere prints JSON on stdout.  Failures go to stderr as
-- "bpfmap: ..." with exit status 1; a malformed command line exits 2.
-- See README.md, "m:dump and the bpfmap command".

local bpfmap = require "bpfmap"

local M = {}

local USAGE = [[
Usage: bpfmap [--json] COMMAND [ARGS]

  list [PATTERN]                 loaded maps (PATTERN: a substring of the name)
  show MAP                       one map: its info and the programs using it
  get MAP PATH [--key K]         read one field through the map's BTF
  set MAP PATH VALUE [--key K]   write one field through the map's BTF
  dump MAP                       every entry, formatted through the map's BTF
  pin MAP PATH                   pin the map at PATH (on a bpf filesystem)

MAP    a map id (12), a pinned path (/sys/fs/bpf/x: contains '/'), or a
       name: the map named so, else the only map whose name ends with it
       (.bss, myprog.data)
PATH   a field: crash, stats.limit, slots[2].x
K      an array index or an integer key (7, 0x10, -1), or the key's bytes
       in hex: hex:0100000000000000
VALUE  an integer (42, -1, 0xff), true or false, or an enumerator name

Options:
  --json        print JSON on stdout, for scripts
  --key K       the entry to read or write (default: index 0)
  -h, --help    print this help

Exit status: 0 on success, 1 when an operation fails, 2 for a malformed
command line.  Errors go to stderr, prefixed "bpfmap: ".
]]

---------------------------------------------------------------------------
-- JSON: a small encoder of our own, so the command needs nothing beyond
-- Lua 5.4 and bpfmap (dkjson is only a test dependency).

local json_array_mt = { __name = "json array" }

--- Mark t as a JSON array, so that an empty one prints [] rather than {}.
local function array(t)
  return setmetatable(t or {}, json_array_mt)
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  local out = s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end)
  if not utf8.len(out) then
    -- bytes that are not UTF-8 (a map's raw char array, say) read as Latin-1
    out = out:gsub("[\128-\255]", function(c) return string.format("\\u%04x", c:byte()) end)
  end
  return '"' .. out .. '"'
end

local function is_sequence(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n == #t
end

local encode

local function encode_table(t, out, seen)
  if seen[t] then error("JSON: a table refers to itself", 0) end
  seen[t] = true
  if getmetatable(t) == json_array_mt or (next(t) ~= nil and is_sequence(t)) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode(t[i], out, seen)
    end
    out[#out + 1] = "]"
  else
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = json_string(k)
      out[#out + 1] = ":"
      local v = t[k]
      if v == nil then v = t[math.tointeger(tonumber(k))] end
      encode(v, out, seen)
    end
    out[#out + 1] = "}"
  end
  seen[t] = nil
end

function encode(v, out, seen)
  local ty = type(v)
  if v == nil then
    out[#out + 1] = "null"
  elseif ty == "boolean" then
    out[#out + 1] = tostring(v)
  elseif math.type(v) == "integer" then
    out[#out + 1] = string.format("%d", v)
  elseif ty == "number" then
    -- JSON has no NaN or infinity
    out[#out + 1] = (v == v and v ~= math.huge and v ~= -math.huge)
      and string.format("%.17g", v) or "null"
  elseif ty == "string" then
    out[#out + 1] = json_string(v)
  elseif ty == "table" then
    encode_table(v, out, seen)
  else
    error("JSON: cannot encode a " .. ty, 0)
  end
end

--- The JSON text of v (nil, booleans, numbers, strings, tables).
function M.json(v)
  local out = {}
  encode(v, out, {})
  return table.concat(out)
end

M.array = array

---------------------------------------------------------------------------
-- Errors: a failure (exit 1) or a malformed command line (exit 2), raised
-- as tables so that main can tell them from a bug's error.

local Failure = {}

local function fail(fmt, ...)
  error(setmetatable({ msg = string.format(fmt, ...), status = 1 }, Failure), 0)
end

local function usage_error(fmt, ...)
  error(setmetatable({ msg = string.format(fmt, ...), status = 2 }, Failure), 0)
end

-- A library call's nil, msg, errno turned into a failure; else its results.
local function check(ok, msg, ...)
  if ok == nil then fail("%s", tostring(msg)) end
  return ok, msg, ...
end

-- Bytes as JSON carries them: unspaced hex.
local function hex_bytes(s)
  return bpfmap.hex(s, "")
end

---------------------------------------------------------------------------
-- MAP: an id, a pinned path, or a name (exact, else a suffix).

local function ends_with(s, suffix)
  return #suffix <= #s and s:sub(-#suffix) == suffix
end

local function open_map(spec)
  if spec:match("^%d+$") then
    local id = math.tointeger(tonumber(spec))
    if not id or id > 0xffffffff then fail("map id %s is out of range", spec) end
    return check(bpfmap.MapData.from_id(id))
  end
  if spec:find("/", 1, true) then
    return check(bpfmap.MapData.from_pin(spec))
  end
  if spec == "" then usage_error("MAP must not be empty") end
  local maps = check(bpfmap.list_maps())
  local exact, suffix = {}, {}
  for _, info in ipairs(maps) do
    if info.name == spec then exact[#exact + 1] = info end
    if ends_with(info.name, spec) then suffix[#suffix + 1] = info end
  end
  local found = #exact > 0 and exact or suffix
  if #found == 0 then
    fail("no loaded map is named '%s' or has a name ending with it", spec)
  end
  if #found > 1 then
    local names = {}
    for i, info in ipairs(found) do
      names[i] = string.format("%s (id %d)", info.name, info.id)
    end
    fail("%d maps match '%s'; name one by id or pinned path: %s", #found, spec,
      table.concat(names, ", "))
  end
  -- the map may have gone since the walk; from_id says so
  return check(bpfmap.MapData.from_id(found[1].id))
end

---------------------------------------------------------------------------
-- KEY and VALUE syntax.

-- A Lua integer literal: decimal (with an optional '-') or 0x hex.
local function parse_integer(s)
  local n
  if s:match("^%-?%d+$") then
    n = math.tointeger(tonumber(s))
  elseif s:match("^%-?0[xX]%x+$") then
    n = math.tointeger(tonumber(s))
  end
  return n
end

-- "hex:01 00 00 00" -> bytes; nil if s is not in that form.
local function parse_hex(s)
  local digits = s:match("^hex:(.*)$")
  if not digits then return nil end
  digits = digits:gsub("[%s:]", "")
  if #digits % 2 ~= 0 or digits:find("%X") then
    usage_error("key '%s': hex: must be followed by pairs of hex digits", s)
  end
  return (digits:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local ARRAYS = { array = true, percpu_array = true }
local KEYLESS = { queue = true, stack = true, bloom_filter = true }

-- --key's text, checked before any map is opened: { bytes = ... } or
-- { int = n }, or nil without --key.
local function parse_key(spec)
  if spec == nil then return nil end
  local bytes = parse_hex(spec)
  if bytes then return { text = spec, bytes = bytes } end
  local n = parse_integer(spec)
  if not n then
    usage_error("key '%s' is neither an integer nor hex:BYTES", spec)
  end
  return { text = spec, int = n }
end

-- The key argument m:get and m:set take: an index for an array map, else a
-- binary string of key_size bytes.
local function map_key(info, key)
  if key == nil then
    if ARRAYS[info.type] then return nil end   -- index 0
    fail("map '%s' (id %d) is a %s map: name the entry with --key", info.name, info.id,
      info.type)
  end
  if key.bytes then
    if #key.bytes ~= info.key_size then
      fail("key '%s' is %d bytes; map '%s' (id %d) has %d-byte keys", key.text, #key.bytes,
        info.name, info.id, info.key_size)
    end
    return key.bytes
  end
  local n = key.int
  if ARRAYS[info.type] then return n end
  local size = info.key_size
  if size ~= 1 and size ~= 2 and size ~= 4 and size ~= 8 then
    fail("map '%s' (id %d) has %d-byte keys; give the key as hex:BYTES", info.name,
      info.id, size)
  end
  if size < 8 then
    local bits = size * 8
    if n < -(1 << (bits - 1)) or n > (1 << bits) - 1 then
      fail("key %s does not fit map '%s' (id %d)'s %d-byte keys", key.text, info.name,
        info.id, size)
    end
    n = n & ((1 << bits) - 1)
  end
  return string.pack("<I" .. size, n)
end

local function parse_value(s)
  if s == "true" then return true end
  if s == "false" then return false end
  local n = parse_integer(s)
  if n then return n end
  if s:match("^%-?%d") or s:match("^%-?0[xX]") then
    usage_error("VALUE '%s' is not an integer that fits in 64 bits", s)
  end
  if not s:match("^[%a_][%w_]*$") then
    usage_error("VALUE '%s' is neither an integer, true, false nor an enumerator name", s)
  end
  return s   -- an enumerator name: m:set resolves it through the field's enum
end

---------------------------------------------------------------------------
-- Commands.  Each gets (args, opts) and returns what to print: text, or a
-- value for --json.

local function info_table(info)
  local t = {}
  for k, v in pairs(info) do
    t[k] = k == "flag_names" and array(v) or v
  end
  return t
end

local function progs_using(id)
  local progs = bpfmap.list_programs()
  local using = array()
  for _, p in ipairs(progs or {}) do
    for _, mid in ipairs(p.map_ids) do
      if mid == id then using[#using + 1] = { id = p.id, name = p.name } end
    end
  end
  return using
end

local commands = {}

commands.list = { nargs = { 0, 1 }, run = function(args, opts)
  local pattern = args[1]
  local maps = check(bpfmap.list_maps())
  local out = array()
  for _, info in ipairs(maps) do
    if not pattern or info.name:find(pattern, 1, true) then
      out[#out + 1] = info
    end
  end
  if opts.json then
    for i, info in ipairs(out) do out[i] = info_table(info) end
    return out
  end
  local lines = {}
  for i, info in ipairs(out) do lines[i] = tostring(info) end
  return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end }

commands.show = { nargs = { 1, 1 }, run = function(args, opts)
  local m <close> = open_map(args[1])
  local info = check(m:info())
  local using = progs_using(info.id)
  if opts.json then
    local t = info_table(info)
    t.programs = using
    return t
  end
  local lines = { tostring(info) }
  local flags = #info.flag_names > 0 and table.concat(info.flag_names, ",") or "none"
  lines[#lines + 1] = "  flags: " .. flags
  if info.btf_id ~= 0 then
    lines[#lines + 1] = string.format("  btf: id %d, key type %d, value type %d", info.btf_id,
      info.btf_key_type_id, info.btf_value_type_id)
  end
  if info.frozen ~= nil then
    lines[#lines + 1] = "  frozen: " .. (info.frozen and "yes" or "no")
  end
  if info.memlock then lines[#lines + 1] = string.format("  memlock: %dB", info.memlock) end
  local names = {}
  for i, p in ipairs(using) do names[i] = string.format("%s (id %d)", p.name, p.id) end
  lines[#lines + 1] = "  programs: " .. (#names > 0 and table.concat(names, ", ") or "none")
  return table.concat(lines, "\n") .. "\n"
end }

-- m:get(path, key), failing on a refusal and on a missing key, for which
-- m:get returns nil alone (check() would take that for success).
local function get_field(m, info, path, key, key_text)
  local v, err = m:get(path, key)
  if v == nil then
    if err then fail("%s", err) end
    fail("map '%s' (id %d) has no entry for key %s", info.name, info.id, key_text or "0")
  end
  return v
end

-- An integer, a boolean, or a per-CPU list of them, as text.
local function show_value(v)
  if type(v) ~= "table" then return tostring(v) end
  local t = {}
  for i, x in ipairs(v) do t[i] = tostring(x) end
  return "{" .. table.concat(t, ", ") .. "}"
end

commands.get = { nargs = { 2, 2 }, key = true, run = function(args, opts)
  local parsed = parse_key(opts.key)
  local m <close> = open_map(args[1])
  local info = check(m:info())
  local path = args[2]
  local key = map_key(info, parsed)
  local v = get_field(m, info, path, key, opts.key)
  if opts.json then
    return { map = info.name, id = info.id, path = path, key = opts.key,
             value = type(v) == "table" and array(v) or v }
  end
  if type(v) == "table" then
    local lines = {}
    for i, x in ipairs(v) do lines[i] = string.format("CPU %d: %s\n", i - 1, tostring(x)) end
    return table.concat(lines)
  end
  return tostring(v) .. "\n"
end }

-- The table m:write takes to set one field by name: {a = {b = value}} for
-- "a.b".  Only member paths: an index would make a sparse list.
local function write_table(path, value)
  if not path:match("^[%a_][%w_]*$") and not path:match("^[%a_][%w_]*[%.%w_]*[%w_]$") then
    fail("an enumerator name can only be given for a field reached by member names, "
      .. "not '%s'; give its number", path)
  end
  local t = value
  local segments = {}
  for seg in path:gmatch("[^.]+") do segments[#segments + 1] = seg end
  for i = #segments, 1, -1 do t = { [segments[i]] = t } end
  return t
end

-- Set an enum field by enumerator name: m:set takes numbers only, m:write
-- resolves names and stores only the fields its table names. m:write
-- gives no report, so this one has before, after, field and the
-- enumerator, not m:set's type, offset, size, signed, method, atomic.
local function set_by_name(m, info, path, name, key, key_text)
  local before = get_field(m, info, path, key, key_text)
  check(m:write(write_table(path, name), key))
  local after = get_field(m, info, path, key, key_text)
  return { before = before, after = after, field = path, enumerator = name }
end

commands.set = { nargs = { 3, 3 }, key = true, run = function(args, opts)
  local value = parse_value(args[3])
  local parsed = parse_key(opts.key)
  local m <close> = open_map(args[1])
  local info = check(m:info())
  local path = args[2]
  local key = map_key(info, parsed)
  local report
  if type(value) == "string" then
    report = set_by_name(m, info, path, value, key, opts.key)
  else
    report = check(m:set(path, value, key))
  end
  if opts.json then
    local t = { map = info.name, id = info.id, path = path, key = opts.key }
    for k, v in pairs(report) do t[k] = type(v) == "table" and array(v) or v end
    return t
  end
  return string.format("%s: %s -> %s\n", path, show_value(report.before),
    show_value(report.after))
end }

-- The entries as m:dump walks them: a key that vanishes is asked past
-- again, and one get_next_key lists twice but lookup never finds (an empty
-- prog_array slot) is stepped over, where pairs() would ask forever.
local function walk(m)
  local prev, missing
  return function()
    while true do
      local k, err = m:next_key(prev)
      if k == nil then
        if err then fail("%s", err) end
        return nil
      end
      local v, lerr = m:lookup(k)
      if v ~= nil then
        prev, missing = k, nil
        return k, v
      end
      if lerr then fail("%s", lerr) end
      if missing == k then prev, missing = k, nil else missing = k end
    end
  end
end

commands.dump = { nargs = { 1, 1 }, run = function(args, opts)
  local m <close> = open_map(args[1])
  local info = check(m:info())
  if KEYLESS[info.type] then
    fail("map '%s' (id %d) is a %s map, which has no keys to dump", info.name, info.id,
      info.type)
  end
  local text = check(m:dump())
  if not opts.json then return text end
  local entries = array()
  for k, v in walk(m) do
    local e = { key = hex_bytes(k) }
    if type(v) == "table" then
      e.values = array()
      for i, cpu_value in ipairs(v) do e.values[i] = hex_bytes(cpu_value) end
    else
      e.value = hex_bytes(v)
    end
    entries[#entries + 1] = e
  end
  return { map = info.name, id = info.id, entries = entries, text = text }
end }

commands.pin = { nargs = { 2, 2 }, run = function(args, opts)
  local m <close> = open_map(args[1])
  local path = args[2]
  check(m:pin(path))
  local info = check(m:info())
  if opts.json then return { map = info.name, id = info.id, path = path } end
  return string.format("pinned map '%s' (id %d) at %s\n", info.name, info.id, path)
end }

---------------------------------------------------------------------------
-- The command line.

local function parse(argv)
  local opts, args, i, rest = {}, {}, 1, false
  while i <= #argv do
    local a = argv[i]
    if rest or a == "-" or not a:match("^%-") or a:match("^%-%d") then
      args[#args + 1] = a
    elseif a == "--" then
      rest = true
    elseif a == "--json" then
      opts.json = true
    elseif a == "-h" or a == "--help" then
      opts.help = true
    elseif a == "--key" then
      i = i + 1
      if argv[i] == nil then usage_error("--key needs a value") end
      opts.key = argv[i]
    elseif a:match("^%-%-key=") then
      opts.key = a:sub(#"--key=" + 1)
    else
      usage_error("unknown option '%s'", a)
    end
    i = i + 1
  end
  return table.remove(args, 1), args, opts
end

--- Run the command with the argument list argv (as Lua's `arg`); returns
-- the exit status.  out and err default to io.stdout and io.stderr.
function M.main(argv, out, err)
  out, err = out or io.stdout, err or io.stderr
  local ok, status = pcall(function()
    local name, args, opts = parse(argv or {})
    if opts.help then
      out:write(USAGE)
      return 0
    end
    if not name then usage_error("no command given") end
    local cmd = commands[name]
    if not cmd then usage_error("unknown command '%s'", name) end
    local lo, hi = cmd.nargs[1], cmd.nargs[2]
    if #args < lo or #args > hi then
      usage_error("%s takes %s %d argument%s, got %d", name, lo == hi and "exactly" or
        (#args < lo and "at least" or "at most"), #args < lo and lo or hi,
        (#args < lo and lo or hi) == 1 and "" or "s", #args)
    end
    if opts.key and not cmd.key then
      usage_error("--key is for get and set, not %s", name)
    end
    local result = cmd.run(args, opts)
    if opts.json then
      out:write(M.json(result), "\n")
    else
      out:write(result)
    end
    return 0
  end)
  if ok then return status end
  if getmetatable(status) == Failure then
    err:write("bpfmap: ", status.msg, "\n")
    if status.status == 2 then err:write("Try 'bpfmap --help'.\n") end
    return status.status
  end
  -- a raise from bpfmap itself: a caller's mistake it refused (a malformed
  -- field path, say) or a bug; either way the operation failed.  The
  -- position is this file's line that called bpfmap, of no use to the user.
  err:write("bpfmap: ", (tostring(status):gsub("^[^\n]-cli%.lua:%d+: ", "")), "\n")
  return 1
end

return M
