-- Object, Program and Link (csrc/object.c, csrc/program.c): BPF objects
-- opened, loaded, attached and test-run from Lua, on the real kernel.
--
-- Fixtures are spec/fixtures/obj_*.bpf.c. Their programs count getpid()
-- calls only of processes of one name, compiled in per run of this spec
-- ("bpfmapt_o" and this process's pid: a copy of build/tools/fire_getpid
-- under that name makes one call at start and N on "go"), so counts are
-- exact whatever else runs on the machine, other runs of this spec too. bpftool is the
-- independent witness of programs, maps and values. Every object is closed
-- and every pin, mount and temp dir removed by the test that made it.
local bpfmap = require "bpfmap"
local bpffs = require "spec.helpers.bpffs"
local bpfobj = require "spec.helpers.bpfobj"
local proc = require "spec.helpers.proc"
local tracefs = require "spec.helpers.tracefs"
local priv = require("spec.helpers.priv").bind(_ENV)
local json = require "dkjson"

local Object = bpfmap.Object
local E = bpfmap.errno
local sh, quote = bpffs.sh, bpffs.quote

local FIX = "build/fixtures/"
local COUNT, RUN, BAD, REFUSE = FIX .. "obj_count.bpf.o", FIX .. "obj_run.bpf.o",
  FIX .. "obj_bad.bpf.o", FIX .. "obj_refuse.bpf.o"
local CFG = FIX .. "obj_cfg.bpf.o"
local GROW = FIX .. "obj_grow.bpf.o"

local function u32(n) return string.pack("<I4", n) end
local function u64(n) return string.pack("<I8", n) end
local function read_u64(m) return (string.unpack("<I8", m:lookup(u32(0)))) end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- bpftool's view of a program by id, or nil once the kernel has freed it.
local function prog_show(id)
  local out = sh("bpftool prog show id " .. math.tointeger(id) .. " -j 2>/dev/null || true")
  local obj = json.decode(out)
  if type(obj) ~= "table" or obj.error then return nil end
  return obj
end

-- Programs are freed shortly after their last reference goes: poll ~3 s.
local function wait_prog_gone(id)
  for _ = 1, 60 do
    if not prog_show(id) then return true end
    os.execute("sleep 0.05")
  end
  return false
end

local function bt_u64(map_id)
  return (string.unpack("<I8", bpfobj.map_bytes(map_id)))
end

-- Links bpftool lists for program `id`.
local function links_of(id)
  local n = 0
  for _, l in ipairs(json.decode(sh("bpftool link show -j")) or {}) do
    if l.prog_id == id then n = n + 1 end
  end
  return n
end

---------------------------------------------------------------------------

describe("Object.open arguments", function()
  it("raises on a path that is not a string, before any work", function()
    assert.has_error(function() Object.open(nil) end,
      "bad argument #1 to 'open' (path must be a string, got nil)")
    assert.has_error(function() Object.open(42) end,
      "bad argument #1 to 'open' (path must be a string, got number)")
  end)

  it("raises on unknown or mistyped options", function()
    assert.has_error(function() Object.open(COUNT, { nmae = "x" }) end,
      "bad argument #2 to 'open' (unknown option 'nmae')")
    assert.has_error(function() Object.open(COUNT, { name = 3 }) end,
      "bad argument #2 to 'open' (field 'name' must be a string, got number)")
    assert.has_error(function() Object.open(COUNT, { kconfig = "A\0B" }) end,
      "bad argument #2 to 'open' (field 'kconfig' contains a NUL byte)")
    assert.has_error(function() Object.open(COUNT, "name") end,
      "bad argument #2 to 'open' (table expected, got string)")
  end)

  it("returns ENOENT for a missing file", function()
    local o, msg, errno = Object.open("/tmp/bpfmapt_obj_missing.o")
    assert.is_nil(o)
    assert.equal(E.ENOENT, errno)
    assert.matches("^open BPF object /tmp/bpfmapt_obj_missing%.o: No such file or directory", msg)
  end)

  it("returns EINVAL, in libbpf's words, for a file that is no BPF object", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(string.rep("not an ELF file ", 8))
    f:close()
    local o, msg, errno = Object.open(path)
    os.remove(path)
    assert.is_nil(o)
    assert.equal(E.EINVAL, errno)
    assert.matches("open BPF object " .. path:gsub("%p", "%%%0")
      .. " %(BPF object format invalid%): Invalid argument", msg)
    assert.matches("is not a proper ELF object", msg)

    -- an ELF, but not a BPF one
    o, msg, errno = Object.open("/bin/true")
    assert.is_nil(o)
    assert.equal(E.EINVAL, errno)
    assert.matches("/bin/true is not a valid eBPF object file", msg)
  end)

  it("opens without loading: names, sections and types are known, nothing else", function()
    local o <close> = assert(Object.open(COUNT))
    assert.equal("obj_count", o:name())
    assert.is_false(o:loaded())
    assert.equal("Object 'obj_count' (not loaded, 1 program, 4 maps)", tostring(o))
    local p = o:program("bpfmapt_obj_cnt")
    assert.equal("bpfmapt_obj_cnt", p:name())
    assert.equal("tracepoint/syscalls/sys_enter_getpid", p:section())
    assert.equal("tracepoint", p:type())
    assert.equal(p, o:programs().bpfmapt_obj_cnt)
    assert.has_error(function() o:map(".bss") end, "Object.map: object not loaded")
    assert.has_error(function() o:maps() end, "Object.maps: object not loaded")
    assert.has_error(function() o:attach() end, "Object.attach: object not loaded")
    assert.has_error(function() o:pin_maps("/tmp") end, "Object.pin_maps: object not loaded")
    assert.has_error(function() p:fd() end, "Program.fd: object not loaded")
    assert.has_error(function() p:run() end, "Program.run: object not loaded")
    assert.has_error(function() p:attach() end, "Program.attach: object not loaded")
  end)

  it("takes the object's name from opts.name", function()
    local o <close> = assert(Object.open(COUNT, { name = "bpfmapt_obj_nm" }))
    assert.equal("bpfmapt_obj_nm", o:name())
  end)
end)

---------------------------------------------------------------------------

-- The map ids this process holds descriptors of, from /proc/PID/fdinfo.
local function held_map_ids()
  local ids = {}
  for fd in sh("ls /proc/" .. proc.PID .. "/fdinfo"):gmatch("%d+") do
    local f = io.open("/proc/" .. proc.PID .. "/fdinfo/" .. fd, "r")
    if f then
      local id = f:read("a"):match("\nmap_id:%s*(%d+)")
      f:close()
      if id then ids[math.tointeger(tonumber(id))] = true end
    end
  end
  return ids
end

-- A process name of this run's own, at most 15 bytes (the kernel's comm):
-- "bpfmapt_o" and the pid in base 36.
local function run_comm()
  local digits, n, s = "0123456789abcdefghijklmnopqrstuvwxyz", proc.PID, ""
  repeat
    s = digits:sub(n % 36 + 1, n % 36 + 1) .. s
    n = n // 36
  until n == 0
  return "bpfmapt_o" .. s
end

priv.describe("Object on the kernel #priv", function()
  -- COUNT and REFUSE here are this run's copies, counting only FIRE
  local tmp, FIRE, COUNT, REFUSE
  local built = {}

  setup(function()
    tracefs.ensure()
    local comm = run_comm()
    local defines = { BPFMAPT_OBJ_COMM = '"' .. comm .. '"' }
    built[1] = bpfobj.compile("spec/fixtures/obj_count.bpf.c", defines)
    built[2] = bpfobj.compile("spec/fixtures/obj_refuse.bpf.c", defines)
    COUNT, REFUSE = built[1].path, built[2].path
    tmp = trim(sh("mktemp -d /tmp/bpfmapt_objXXXXXX"))
    FIRE = tmp .. "/" .. comm
    sh("cp build/tools/fire_getpid " .. quote(FIRE))
  end)

  teardown(function()
    for _, b in pairs(built) do b:cleanup() end
    if tmp and tmp:match("^/tmp/bpfmapt_obj") then sh("rm -rf " .. quote(tmp)) end
  end)

  -- n + 1 getpid() calls by a process named as this run's copies count. Without the
  -- sanitizer runtime `make test-asan` preloads, whose start-up calls
  -- getpid() too.
  local function fire(n)
    sh("echo go | env -u LD_PRELOAD -u ASAN_OPTIONS " .. quote(FIRE) .. " " .. n .. " >/dev/null")
  end

  it("loads, attaches and counts getpid through .bss; close unloads the program #priv", function()
    local o = assert(Object.open(COUNT))
    assert.is_true(o:load())
    assert.is_true(o:loaded())
    assert.equal("Object 'obj_count' (loaded, 1 program, 4 maps)", tostring(o))
    local p = o:program("bpfmapt_obj_cnt")
    local id = p:id()
    local shown = assert(prog_show(id))
    assert.equal("bpfmapt_obj_cnt", shown.name)
    assert.equal("tracepoint", shown.type)
    assert.is_true(p:fd() >= 0)

    local bss, seen = assert(o:map(".bss")), assert(o:map("bpfmapt_obj_seen"))
    assert.equal(0, read_u64(bss))
    assert.is_true(o:attach())
    assert.is_true(o:attach()) -- attached programs are left as they are
    fire(100)
    assert.equal(101, read_u64(bss))
    assert.equal(101, bt_u64(bss:id()))
    assert.equal(101, read_u64(seen))
    assert.equal(1, links_of(id))

    -- the .data global drives the program: step 5
    local data = assert(o:map(".data"))
    assert.is_true(data:update(u32(0), u64(5)))
    fire(10)
    assert.equal(101 + 11 * 5, read_u64(bss))

    assert.is_true(o:close())
    assert.is_true(o:close()) -- twice is fine
    assert.equal("Object (closed)", tostring(o))
    assert.is_true(wait_prog_gone(id), "program " .. id .. " still loaded after close")
    -- detached: the maps, still held by their MapData, stop counting
    fire(10)
    assert.equal(156, read_u64(bss))
    bss:close(); seen:close(); data:close()
  end)

  it("finds maps by libbpf name, section name and kernel name #priv", function()
    local o <close> = assert(Object.open(COUNT))
    assert(o:load())
    local all = o:maps()
    local names = {}
    for name, m in pairs(all) do
      names[#names + 1] = name
      assert.equal(bpfobj.map_show(m:id()).id, m:id())
    end
    table.sort(names)
    assert.same({ "bpfmapt_obj_seen", "obj_coun.bss", "obj_coun.data", "obj_coun.rodata" }, names)

    local function id_of(name) return assert(o:map(name)):id() end
    assert.equal(all["obj_coun.bss"]:id(), id_of(".bss"))
    assert.equal(all["obj_coun.bss"]:id(), id_of("obj_coun.bss"))
    assert.equal(all["obj_coun.data"]:id(), id_of(".data"))
    assert.equal(all["obj_coun.rodata"]:id(), id_of(".rodata"))
    assert.equal(all.bpfmapt_obj_seen:id(), id_of("bpfmapt_obj_seen"))
    -- the kernel's name is cut to 15 bytes
    assert.equal("bpfmapt_obj_see", bpfobj.map_show(all.bpfmapt_obj_seen:id()).name)
    assert.equal(all.bpfmapt_obj_seen:id(), id_of("bpfmapt_obj_see"))
    -- .rodata was frozen by libbpf and holds the constant
    assert.equal(u32(7), o:map(".rodata"):lookup(u32(0)))

    local m, msg, errno = o:map(".bsss")
    assert.is_nil(m)
    assert.equal(E.ENOENT, errno)
    assert.equal("map '.bsss' of object 'obj_count': no such map", msg)
    m, msg, errno = o:map(".bss\0")
    assert.is_nil(m)
    assert.equal(E.ENOENT, errno)
    assert.equal("map '.bss\\x00' of object 'obj_count': no such map", msg)
    assert.has_error(function() o:map(1) end,
      "bad argument #1 to 'map' (name must be a string, got number)")

    local p, pmsg, perr = o:program("nope")
    assert.is_nil(p)
    assert.equal(E.ENOENT, perr)
    assert.equal("program 'nope' of object 'obj_count': no such program", pmsg)
    for _, v in pairs(all) do v:close() end
  end)

  it("hands out maps that outlive the object and do not close it #priv", function()
    local o = assert(Object.open(COUNT))
    assert(o:load())
    local first = assert(o:map(".bss"))
    local id = first:id()
    assert.is_true(first:close())
    -- closing a MapData from the object leaves the object's own descriptor
    local again = assert(o:map(".bss"))
    assert.equal(id, again:id())
    assert.is_true(again:update(u32(0), u64(42)))
    local p = o:program("bpfmapt_obj_cnt")
    o:close()
    assert.equal(42, read_u64(again))
    assert.equal(42, bt_u64(id))
    assert.is_true(again:update(u32(0), u64(43)))
    assert.equal(43, bt_u64(id))
    assert.has_error(function() p:name() end, "Program.name: closed object")
    again:close()
    bpfobj.wait_gone({ [id] = true }, "map still present after its last MapData closed")
  end)

  it("raises on every method of a closed object and of its programs #priv", function()
    local o = assert(Object.open(RUN))
    assert(o:load())
    local p = o:program("bpfmapt_obj_xdp")
    o:close()
    for _, name in ipairs({ "load", "attach", "map", "maps", "program", "programs",
                            "pin_maps", "name", "loaded" }) do
      assert.has_error(function() o[name](o, "x") end, "Object." .. name .. ": closed object")
    end
    for _, name in ipairs({ "name", "section", "type", "fd", "id", "attach", "run",
                            "set_autoload", "set_autoattach" }) do
      assert.has_error(function() p[name](p, true) end, "Program." .. name .. ": closed object")
    end
    assert.equal("Program (closed object)", tostring(p))
    assert.is_true(o:close())
  end)

  it("test-runs an XDP program: retval, data_out, repeat #priv", function()
    local o <close> = assert(Object.open(RUN))
    assert(o:load())
    local p = o:program("bpfmapt_obj_xdp")
    assert.equal("xdp", p:type())
    assert.equal("xdp", p:section())
    local runs = assert(o:map(".bss"))
    local packet = string.rep("\1\2\3\4", 16)

    local r = assert(p:run({ data_in = packet }))
    assert.equal(3, r.retval) -- XDP_TX
    assert.equal("\254" .. packet:sub(2), r.data_out)
    assert.is_nil(r.ctx_out)
    assert.equal("integer", math.type(r.duration))
    assert.equal(1, read_u64(runs))

    -- the kernel runs the program `repeat` times over the same buffer:
    -- an even number of inversions gives the packet back
    r = assert(p:run({ data_in = packet, ["repeat"] = 1000 }))
    assert.equal(3, r.retval)
    assert.equal(packet, r.data_out)
    assert.is_true(r.duration >= 0)
    assert.equal(1001, read_u64(runs))
    r = assert(p:run({ data_in = packet, ["repeat"] = 7 }))
    assert.equal("\254" .. packet:sub(2), r.data_out)
    assert.equal(1008, read_u64(runs))

    -- an output buffer too small: the kernel says ENOSPC, we say the sizes
    local none, msg, errno = p:run({ data_in = packet, data_size_out = 10 })
    assert.is_nil(none)
    assert.equal(E.ENOSPC, errno)
    assert.matches("^test run of program 'bpfmapt_obj_xdp' %(section xdp%) %(output of 64 data", msg)
    assert.matches("data_size_out 10", msg)

    -- a packet shorter than an Ethernet header is the kernel's EINVAL
    none, msg, errno = p:run({ data_in = "\1" })
    assert.is_nil(none)
    assert.equal(E.EINVAL, errno)
    assert.matches("^test run of program 'bpfmapt_obj_xdp' %(section xdp%): Invalid argument", msg)

    assert.has_error(function() p:run({ repat = 2 }) end,
      "bad argument #1 to 'run' (unknown option 'repat')")
    assert.has_error(function() p:run({ ["repeat"] = -1 }) end,
      "bad argument #1 to 'run' (field 'repeat' must be in 0..4294967295, got -1)")
    assert.has_error(function() p:run({ data_in = 5 }) end,
      "bad argument #1 to 'run' (field 'data_in' must be a string, got number)")
    runs:close()
  end)

  it("test-runs a program that grows the packet into a buffer sized for it #priv", function()
    local o <close> = assert(Object.open(GROW))
    assert(o:load())
    local p = o:program("bpfmapt_fp_grow")
    local packet = string.rep("\1\2\3\4", 16)

    -- the default output buffer is data_in's size + 4096: the grown packet
    -- comes back whole, its new tail zeroed by the kernel
    local r = assert(p:run({ data_in = packet }))
    assert.equal(2, r.retval) -- XDP_PASS
    assert.equal(packet .. string.rep("\0", 256), r.data_out)

    -- a buffer exactly that size is enough; one byte less is ENOSPC with the
    -- size the kernel had to give
    r = assert(p:run({ data_in = packet, data_size_out = 64 + 256 }))
    assert.equal(packet .. string.rep("\0", 256), r.data_out)
    local none, msg, errno = p:run({ data_in = packet, data_size_out = 64 + 255 })
    assert.is_nil(none)
    assert.equal(E.ENOSPC, errno)
    assert.matches("^test run of program 'bpfmapt_fp_grow' %(section xdp%) %(output of 320 data", msg)
    assert.matches("data_size_out 319", msg)

    -- 0 is the kernel's "no limit": refused before the syscall, as the
    -- kernel would copy the grown packet past the buffer
    assert.has_error(function() p:run({ data_in = packet, data_size_out = 0 }) end,
      "bad argument #1 to 'run' (field 'data_size_out' must be at least 1 (the kernel "
      .. "takes 0 as no limit); leave it out for data_in's size + 4096)")
  end)

  it("returns ENOTSUPP for a program type the kernel cannot test-run #priv", function()
    local o <close> = assert(Object.open(RUN))
    assert(o:load())
    local r, msg, errno = o:program("bpfmapt_obj_tp"):run()
    assert.is_nil(r)
    assert.equal(E.ENOTSUPP, errno)
    assert.equal("test run of program 'bpfmapt_obj_tp' (section tracepoint/syscalls/"
      .. "sys_enter_getppid): the kernel has no test run for tracepoint programs (ENOTSUPP)", msg)
    -- and an XDP section has nothing to auto-attach to
    local l
    l, msg, errno = o:program("bpfmapt_obj_xdp"):attach()
    assert.is_nil(l)
    assert.equal(E.EOPNOTSUPP, errno)
    assert.equal("attach program 'bpfmapt_obj_xdp' (section xdp): libbpf knows no attach "
      .. "point for this section", msg)
  end)

  it("returns the verifier's words when verification fails #priv", function()
    local before = held_map_ids()
    local o <close> = assert(Object.open(BAD))
    local ok, msg, errno = o:load()
    assert.is_nil(ok)
    assert.equal(E.EACCES, errno)
    assert.matches("^load object 'obj_bad' %(program 'bpfmapt_obj_nullck'%): Permission denied", msg)
    assert.matches("\nverifier log %(cut: the last 40 of %d+ lines%):\n", msg)
    assert.matches("R0 invalid mem access 'map_value_or_null'", msg)
    local _, log = msg:match("^(.-)\nverifier log[^\n]*\n(.*)$")
    local lines = 0
    for _ in (log .. "\n"):gmatch("[^\n]*\n") do lines = lines + 1 end
    assert.equal(40, lines)
    assert.is_false(o:loaded())
    assert.equal("Object 'obj_bad' (load failed, 2 programs, 2 maps)", tostring(o))
    assert.has_error(function() o:load() end,
      "Object.load: object 'obj_bad' failed to load once; libbpf cannot retry, open it again")
    assert.has_error(function() o:map(".bss") end, "Object.map: object not loaded")
    -- libbpf dropped the maps it had created for the failed load: this
    -- process holds no descriptor of a map it did not hold before (nothing
    -- pins them, so the kernel frees them). Maps are not looked up by name:
    -- a concurrent run of this spec has live maps of the same names.
    local function new_held()
      local left = {}
      for id in pairs(held_map_ids()) do
        if not before[id] then left[#left + 1] = id .. " (" .. bpfobj.map_show(id).name .. ")" end
      end
      return table.concat(left, ", ")
    end
    assert.equal("", new_held())
    o:close()
    assert.equal("", new_held())
  end)

  it("loads without a program whose autoload is off, and skips one whose autoattach is #priv", function()
    local o <close> = assert(Object.open(BAD))
    local bad = o:program("bpfmapt_obj_nullck")
    assert.is_true(bad:set_autoload(false))
    assert.is_true(o:load())
    assert.has_error(function() bad:set_autoload(true) end,
      "Program.set_autoload: object already loaded")
    assert.has_error(function() bad:set_autoload(1) end,
      "bad argument #1 to 'set_autoload' (boolean expected, got number)")
    assert.is_truthy(prog_show(o:program("bpfmapt_obj_good"):id()))

    local r <close> = assert(Object.open(REFUSE))
    assert.is_true(r:program("bpfmapt_obj_kp"):set_autoattach(false))
    assert(r:load())
    local calls <close> = assert(r:map(".bss"))
    assert.is_true(r:attach())
    fire(2)
    assert.equal(3, read_u64(calls))
  end)

  it("undoes every attach when the kernel refuses one, naming the program #priv", function()
    local o <close> = assert(Object.open(REFUSE))
    assert(o:load())
    local calls = assert(o:map(".bss"))
    local cnt = o:program("bpfmapt_obj_rcnt")
    local ok, msg, errno = o:attach()
    assert.is_nil(ok)
    assert.equal(E.ENOENT, errno)
    assert.matches("^attach program 'bpfmapt_obj_kp' %(section kprobe/"
      .. "bpfmapt_obj_no_such_function%) of object 'obj_refuse': No such file or directory", msg)
    -- the tracepoint program attached before it was detached again
    assert.equal(0, links_of(cnt:id()))
    fire(5)
    assert.equal(0, read_u64(calls))

    -- prog:attach() makes a Link the caller owns
    local link = assert(cnt:attach())
    assert.matches("^Link of program 'bpfmapt_obj_rcnt' %(section tracepoint/syscalls/"
      .. "sys_enter_getpid%)$", tostring(link))
    assert.equal(1, links_of(cnt:id()))
    fire(5)
    assert.equal(6, read_u64(calls))
    assert.is_true(link:destroy())
    assert.is_true(link:destroy())
    assert.matches("%(destroyed%)$", tostring(link))
    assert.equal(0, links_of(cnt:id()))
    fire(5)
    assert.equal(6, read_u64(calls))

    -- a refused prog:attach() names the program
    local l
    l, msg, errno = o:program("bpfmapt_obj_kp"):attach()
    assert.is_nil(l)
    assert.equal(E.ENOENT, errno)
    assert.matches("^attach program 'bpfmapt_obj_kp' %(section kprobe/"
      .. "bpfmapt_obj_no_such_function%): No such file or directory", msg)

    -- <close> on a Link, and obj:close() destroying a Link still held
    do
      local scoped <close> = assert(cnt:attach())
      fire(1)
    end
    assert.equal(8, read_u64(calls))
    local held = assert(cnt:attach())
    fire(1)
    assert.equal(10, read_u64(calls))
    o:close()
    assert.matches("%(destroyed%)$", tostring(held))
    fire(1)
    assert.equal(10, read_u64(calls))
    calls:close()
  end)

  it("pins the maps into a bpffs, and says so when the directory is not one #priv", function()
    local fs <close> = bpffs.mount()
    local o <close> = assert(Object.open(COUNT))
    assert(o:load())
    local bss = assert(o:map(".bss"))
    assert.is_true(o:pin_maps(fs.dir .. "/pins"))
    -- libbpf's pin names turn '.' into '_'
    local pin = fs.dir .. "/pins/obj_coun_bss"
    assert.equal(bss:id(), bpfobj.map_show_pinned(pin).id)
    local again <close> = assert(bpfmap.MapData.from_pin(pin))
    assert.equal(bss:id(), again:id())

    local dir = trim(sh("mktemp -d /tmp/bpfmapt_objXXXXXX"))
    local ok, msg, errno = o:pin_maps(dir)
    sh("rm -rf " .. quote(dir))
    assert.is_nil(ok)
    -- libbpf checks the filesystem itself and says EINVAL
    assert.equal(E.EINVAL, errno)
    local d = dir:gsub("%p", "%%%0")
    assert.matches(("^pin maps of object 'obj_count' in %s %%(%s is not on a bpf filesystem%%): "
      .. "Invalid argument"):format(d, d), msg)
    bss:close()
  end)

  it("sets __kconfig externs from opts.kconfig, pins and reuses maps under pin_root_path #priv", function()
    local fs <close> = bpffs.mount()
    local packet = string.rep("\0", 64)
    local a <close> = assert(Object.open(CFG, { kconfig = "CONFIG_BPFMAPT_OBJ_NUM=40\n",
                                                pin_root_path = fs.dir }))
    assert(a:load())
    local kconfig <close> = assert(a:map(".kconfig"))
    assert.equal(u32(40), kconfig:lookup(u32(0)))
    local pinned <close> = assert(a:map("bpfmapt_obj_pin"))
    assert.equal(pinned:id(), bpfobj.map_show_pinned(fs.dir .. "/bpfmapt_obj_pin").id)
    assert.is_true(pinned:update(u32(0), u32(2)))
    assert.equal(42, assert(a:program("bpfmapt_obj_cfg"):run({ data_in = packet })).retval)

    -- a second object reuses the pinned map: it sees what the first wrote
    local b <close> = assert(Object.open(CFG, { kconfig = "CONFIG_BPFMAPT_OBJ_NUM=1",
                                                pin_root_path = fs.dir }))
    assert(b:load())
    local shared <close> = assert(b:map("bpfmapt_obj_pin"))
    assert.equal(pinned:id(), shared:id())
    assert.equal(3, assert(b:program("bpfmapt_obj_cfg"):run({ data_in = packet })).retval)

    -- a kconfig value libbpf cannot parse fails the load (libbpf skips
    -- lines that do not start with CONFIG_)
    local c <close> = assert(Object.open(CFG, { kconfig = "CONFIG_BPFMAPT_OBJ_NUM=forty",
                                                pin_root_path = fs.dir }))
    local ok, msg, errno = c:load()
    assert.is_nil(ok)
    assert.equal(E.EINVAL, errno)
    assert.matches("^load object 'obj_cfg': Invalid argument", msg)
    assert.matches("'CONFIG_BPFMAPT_OBJ_NUM': value 'forty' isn't a valid integer", msg)
  end)

  it("closes through <close> and unloads every program #priv", function()
    local ids, keep = {}, nil
    do
      local o <close> = assert(Object.open(RUN))
      keep = o
      assert(o:load())
      assert(o:attach())
      for _, p in pairs(o:programs()) do ids[#ids + 1] = p:id() end
      for _, id in ipairs(ids) do assert.is_truthy(prog_show(id)) end
    end
    assert.equal("Object (closed)", tostring(keep))
    assert.equal(2, #ids)
    for _, id in ipairs(ids) do
      assert.is_true(wait_prog_gone(id), "program " .. id .. " still loaded after <close>")
    end
  end)

  it("holds every descriptor of a loaded, attached object close-on-exec #priv", function()
    local o <close> = assert(Object.open(REFUSE))
    assert(o:load())
    local link <close> = assert(o:program("bpfmapt_obj_rcnt"):attach())
    local m <close> = assert(o:map(".bss"))
    local checked = 0
    for line in sh("ls -l /proc/" .. proc.PID .. "/fd"):gmatch("[^\n]+") do
      local fd, target = line:match(" (%d+) %-> (.*)$")
      if fd and (target:find("bpf-", 1, true) or target:find("perf_event", 1, true)) then
        local f = io.open("/proc/" .. proc.PID .. "/fdinfo/" .. fd)
        local info = f and f:read("a") or ""
        if f then f:close() end
        local flags = info:match("flags:%s*(%d+)")
        if flags then
          checked = checked + 1
          assert.is_true(tonumber(flags, 8) & tonumber("2000000", 8) ~= 0,
            "descriptor " .. fd .. " (" .. target .. ") is not close-on-exec")
        end
      end
    end
    assert.is_true(checked >= 4) -- program, maps, link, MapData's duplicate
  end)

  it("leaks no descriptor over 200 open/load/attach/map/close cycles #priv", function()
    -- warm up once, so that libbpf's one-time feature probes are done
    local w = assert(Object.open(RUN)); assert(w:load()); w:close()
    local fds, bpf_fds = proc.fd_count(), proc.bpf_fd_count()
    for i = 1, 200 do
      local o = assert(Object.open(RUN))
      assert(o:load())
      assert(o:attach())
      local m = assert(o:map(".bss"))
      if i % 2 == 0 then m:close() end -- and half of them left to __gc
      o:close()
    end
    collectgarbage()
    collectgarbage()
    assert.equal(fds, proc.fd_count())
    assert.equal(bpf_fds, proc.bpf_fd_count())
  end)
end)
