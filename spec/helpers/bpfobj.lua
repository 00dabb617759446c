-- Test helper: load a BPF object with bpftool into a private bpffs, and read
-- or write map values with bpftool.
--
-- This is the independent witness for bpfmap's tests, so it must never use
-- bpfmap: everything goes through the bpftool CLI and its JSON output.

-- Sibling module, found relative to however this one was required
-- ("spec.helpers.bpfobj" -> "spec.helpers.bpffs").
local bpffs = require(((...) or "bpfobj"):gsub("bpfobj$", "bpffs"))
local json = require "dkjson"

local sh, quote = bpffs.sh, bpffs.quote

local M = {}

local function decode(text, what)
  local obj, _, err = json.decode(text)
  if err or obj == nil then
    error(string.format("cannot decode JSON from %s: %s\n%s",
      what, tostring(err), text), 3)
  end
  return obj
end

local function ls(dir)
  local names = {}
  for name in sh("ls -1 " .. quote(dir)):gmatch("[^\n]+") do
    names[#names + 1] = name
  end
  return names
end

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

-- Decoded `bpftool map show id N -j`.
function M.map_show(id)
  return decode(sh("bpftool map show id " .. math.tointeger(id) .. " -j"),
    "map show id " .. id)
end

-- Decoded `bpftool map show pinned PATH -j`: which map a pin names.
function M.map_show_pinned(path)
  return decode(sh("bpftool map show pinned " .. quote(path) .. " -j"),
    "map show pinned " .. path)
end

-- Set of all map ids currently in the kernel (every owner, not just ours).
function M.map_ids()
  local ids = {}
  for _, m in ipairs(decode(sh("bpftool map show -j"), "map show")) do
    ids[m.id] = true
  end
  return ids
end

-- Raw value bytes of key 0 (a u32, as in every data-section array map) of
-- map `id`, as a Lua binary string.
--
-- Only the raw "value" byte array is used, pulled out textually before any
-- JSON decoding: bpftool 7.1 writes invalid JSON in the "formatted" part for
-- some BTF (a float global prints `(unsupported-kind` and truncates the
-- rest), and anonymous members all appear under the key "", so "formatted"
-- is neither parseable nor trustworthy for our fixtures.
function M.map_bytes(id)
  id = math.tointeger(id)
  local out = sh("bpftool map lookup id " .. id .. " key 0 0 0 0 -j")
  local arr = out:match('"value"%s*:%s*(%b[])')
  if not arr then
    error("no raw value array in bpftool output for map " .. id .. ":\n" .. out, 2)
  end
  local bytes = {}
  for hex in arr:gmatch('"0x(%x%x)"') do
    bytes[#bytes + 1] = string.char(tonumber(hex, 16))
  end
  local s = table.concat(bytes)
  local want = M.map_show(id).bytes_value
  if #s ~= want then
    error(string.format("map %d: got %d value bytes, map has %d", id, #s, want), 2)
  end
  return s
end

-- Overwrite key 0 of map `id` with the binary string `bytes` (must be the
-- full value size). Lets tests plant known data for bpfmap to read back.
-- Fails for frozen maps such as .rodata, which is itself worth testing.
function M.map_update(id, bytes)
  id = math.tointeger(id)
  local hex = {}
  for i = 1, #bytes do
    hex[i] = string.format("%02x", bytes:byte(i))
  end
  sh("bpftool map update id " .. id .. " key 0 0 0 0 value hex "
    .. table.concat(hex, " "))
end

-- Decoded `bpftool map dump id N -j`, or nil plus the error when bpftool's
-- BTF-formatted output is not valid JSON (see map_bytes).
function M.map_dump(id)
  local out = sh("bpftool map dump id " .. math.tointeger(id) .. " -j")
  local obj, _, err = json.decode(out)
  if err or obj == nil then return nil, err or "empty output" end
  return obj
end

-- The binary string of one of bpftool's JSON byte lists ("key", "value":
-- { "0x2a", ... }).
function M.bytes(list)
  local t = {}
  for i, h in ipairs(list) do t[i] = string.char(tonumber(h)) end
  return table.concat(t)
end

-- Bytes as two hex digits each, a space apart ("01 ff"): the form bpftool
-- takes after `key hex` and `value hex`.
function M.spaced_hex(s)
  local t = {}
  for i = 1, #s do t[i] = string.format("%02x", s:byte(i)) end
  return table.concat(t, " ")
end

-- The number of possible CPUs, which is how many values the kernel keeps
-- for each key of a per-CPU map (the list bpftool shows, and the one a
-- per-CPU value is written from).
function M.ncpus()
  local f = assert(io.open("/sys/devices/system/cpu/possible"))
  local s = f:read("l")
  f:close()
  local n = 0
  for range in s:gmatch("[^,]+") do
    local a, b = range:match("^(%d+)-(%d+)$")
    if a then n = n + tonumber(b) - tonumber(a) + 1 else n = n + 1 end
  end
  return n
end

-- bpftool's value for `key` (binary string) in map `id`: the value string,
-- a list of strings indexed by CPU + 1 for a per-CPU map, or nil when
-- bpftool finds no such key.
function M.lookup(id, key)
  local out = sh("bpftool map lookup id " .. math.tointeger(id) .. " key hex "
    .. M.spaced_hex(key) .. " -j 2>/dev/null || true")
  local obj = json.decode(out)
  if type(obj) ~= "table" or obj.error then return nil end
  if obj.values then
    local list = {}
    for _, v in ipairs(obj.values) do list[v.cpu + 1] = M.bytes(v.value) end
    return list
  end
  return M.bytes(obj.value)
end

-- Write `value` at `key` (binary strings of the map's exact sizes) of map
-- `id`; for a per-CPU map bpftool gives every CPU the same value.
function M.update(id, key, value)
  sh("bpftool map update id " .. math.tointeger(id) .. " key hex " .. M.spaced_hex(key)
    .. " value hex " .. M.spaced_hex(value))
end

-- bpftool's whole view of map `id`: { [key bytes] = value bytes, or a list
-- of value bytes indexed by CPU + 1 }, and the number of entries. Entries
-- bpftool lists with an error instead of a value (a devmap's empty slots)
-- are left out. Needs JSON bpftool can write (see map_bytes).
function M.map_entries(id)
  local list = decode(sh("bpftool map dump id " .. math.tointeger(id) .. " -j"),
    "map dump id " .. id)
  local t, n = {}, 0
  for _, e in ipairs(list) do
    local key = M.bytes(e.key)
    if e.values then
      local per = {}
      for _, v in ipairs(e.values) do per[v.cpu + 1] = M.bytes(v.value) end
      t[key], n = per, n + 1
    elseif type(e.value) == "table" and not e.value.error then
      t[key], n = M.bytes(e.value), n + 1
    end
  end
  return t, n
end

-- Offsets of the variables of DATASEC `secname` in BTF object `btf_id`, as
-- bpftool reads them: { name = offset }. The witness for where a global
-- lives, independent of bpfmap's resolver.
function M.var_offsets(btf_id, secname)
  local dump = decode(sh("bpftool btf dump id " .. math.tointeger(btf_id) .. " -j"),
    "btf dump id " .. btf_id)
  local by_id = {}
  for _, t in ipairs(dump.types) do by_id[t.id] = t end
  for _, t in ipairs(dump.types) do
    if t.kind == "DATASEC" and t.name == secname then
      local offsets = {}
      for _, v in ipairs(t.vars) do
        offsets[by_id[v.type_id].name] = v.offset
      end
      return offsets
    end
  end
  error("no DATASEC " .. secname .. " in BTF id " .. btf_id, 2)
end

-- Wait until none of the map ids (keys of `ids`) is loaded any more: the
-- kernel frees a map some time after its last reference goes (typically a
-- few hundred ms), and a spec must not leave its maps to the next one.
-- Raises `what` with the ids still there after about 3 s. 60 polls 50 ms
-- apart rather than os.time(), which only has 1 s resolution.
function M.wait_gone(ids, what, level)
  local left
  for _ = 1, 60 do
    local live = M.map_ids()
    left = {}
    for id in pairs(ids) do
      if live[id] then left[#left + 1] = tostring(id) end
    end
    if #left == 0 then return end
    sleep(0.05)
  end
  table.sort(left)
  error(what .. ": " .. table.concat(left, ", "), level or 2)
end

local Obj = {}
Obj.__index = Obj

-- The map whose kernel name ends with `suffix` ("bss", ".data", ...).
-- Exactly one must match, so tests never silently pick the wrong map.
function Obj:map(suffix)
  local found = {}
  for name, m in pairs(self.maps) do
    if name:sub(-#suffix) == suffix then found[#found + 1] = m end
  end
  if #found ~= 1 then
    local names = {}
    for name in pairs(self.maps) do names[#names + 1] = name end
    table.sort(names)
    error(string.format("%d maps end with %q in %s (maps: %s)", #found,
      suffix, self.path, table.concat(names, ", ")), 2)
  end
  return found[1]
end

-- Remove the pins and the bpffs, then wait until the kernel has really freed
-- the maps (freeing is deferred, typically a few hundred ms) so the next test
-- does not see them. Idempotent.
function Obj:unload()
  if self.unloaded then return end
  self.unloaded = true
  self.fs:cleanup()
  local ids = {}
  for _, m in pairs(self.maps) do ids[m.id] = m.name end
  M.wait_gone(ids, "maps still present after unload", 3)
end

Obj.__close = Obj.unload

-- Compile a fixture's source again, with -D definitions, into a fresh temp
-- dir under the same file name (the object's name gives its maps' names,
-- e.g. "globals.bss").  For a run that needs names no other run of the suite
-- on this kernel has.  Returns a closeable { path = , dir = }.
--
-- objname, when given, is the object file's name instead ("sp12ab34.bpf.o"):
-- libbpf names an object after its file name up to the first '.', and its
-- data maps after the first 8 bytes of that ("sp12ab34.bss"), so this is how
-- a run gets data maps of its own name.
local Built = {}
Built.__index = Built
function Built:cleanup()
  if self.dir then sh("rm -rf " .. quote(self.dir)) end
  self.dir = nil
end
Built.__close = Built.cleanup

function M.compile(src, defines, objname)
  local dir = sh("mktemp -d /tmp/bpfmapccXXXXXX"):gsub("%s+$", "")
  objname = objname or src:match("[^/]+$"):gsub("%.c$", ".o")
  local self = setmetatable({ dir = dir, path = dir .. "/" .. objname }, Built)
  local flags = {}
  for name, value in pairs(defines or {}) do
    flags[#flags + 1] = quote("-D" .. name .. "=" .. value)
  end
  local ok, err = pcall(sh, "clang -g -O2 -target bpf -I/usr/include/$(gcc -dumpmachine) "
    .. table.concat(flags, " ") .. " -c " .. quote(src) .. " -o " .. quote(self.path))
  if not ok then
    self:cleanup()
    error(err, 2)
  end
  return self
end

-- Load every program of `objpath` and pin programs and maps in a fresh
-- private bpffs. Each call is an independent instance, so loading the same
-- object twice yields two sets of maps with identical kernel names.
--
-- opts.type: program type passed to bpftool when the section name does not
-- imply one (e.g. "tracepoint").
function M.load(objpath, opts)
  opts = opts or {}
  local fs = bpffs.mount()
  local self = setmetatable({
    path = objpath, fs = fs, dir = fs.dir, maps = {}, progs = {},
  }, Obj)
  local ok, err = pcall(function()
    local cmd = "bpftool prog loadall " .. quote(objpath) .. " "
      .. quote(fs.dir .. "/progs")
    if opts.type then cmd = cmd .. " type " .. quote(opts.type) end
    sh(cmd .. " pinmaps " .. quote(fs.dir .. "/maps"))

    -- Pin file names are sanitised ('.' -> '_'), so the kernel's own map
    -- name is read back from each pin rather than guessed.
    for _, pinname in ipairs(ls(fs.dir .. "/maps")) do
      local pin = fs.dir .. "/maps/" .. pinname
      local info = M.map_show_pinned(pin)
      if self.maps[info.name] then
        -- Kernel names are cut to 15 chars, so distinct sections can clash.
        error("two maps named " .. info.name .. " in " .. objpath)
      end
      self.maps[info.name] = { id = info.id, name = info.name, pin = pin }
    end
    for _, pinname in ipairs(ls(fs.dir .. "/progs")) do
      local pin = fs.dir .. "/progs/" .. pinname
      local info = decode(sh("bpftool prog show pinned " .. quote(pin) .. " -j"),
        "prog show pinned " .. pin)
      self.progs[#self.progs + 1] = { id = info.id, name = info.name, pin = pin }
    end
  end)
  if not ok then
    fs:cleanup()
    error(err, 2)
  end
  return self
end

return M
