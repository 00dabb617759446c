-- BpfMapWrite construction: ktstr's conformance cases (see
-- shared/reference/ktstr-bpfmapwrite.md), bpfmap's stricter path syntax, and
-- the set semantics of Eq + Hash.  No privilege needed: nothing here makes a
-- syscall.
local bpfmap = require "bpfmap"
local new = bpfmap.BpfMapWrite.new

local function rejects(suffix, field, value, message)
  local ok, err = pcall(new, suffix, field, value)
  assert.is_false(ok, "expected a raise for " .. string.format("%q, %q", tostring(suffix), tostring(field)))
  assert.is_truthy(err:find(message, 1, true),
    string.format("error %q does not contain %q", err, message))
  return err
end

describe("BpfMapWrite.new", function()
  describe("rejects map_name_suffix in ktstr's order", function()
    local cases = {
      { "", "map_name_suffix must not be empty" },
      { "bss", "map_name_suffix must start with '.'" },
      { ".", "map_name_suffix must not be a bare '.'" },
      { "..bss", "map_name_suffix must not start with '..'" },
      { ".b s", "map_name_suffix must not contain whitespace" },
      { ".b\tss", "map_name_suffix must not contain whitespace" },
      { ".bss/data", "map_name_suffix must not contain '/' or '\\'" },
      { ".bss\\data", "map_name_suffix must not contain '/' or '\\'" },
      { ".bss\0", "map_name_suffix must contain only printable ASCII (byte 4 is 0x00)" },
      { ".b\1ss", "map_name_suffix must contain only printable ASCII (byte 2 is 0x01)" },
      { ".b\x80ss", "map_name_suffix must contain only printable ASCII (byte 2 is 0x80)" },
      -- bpfmap's own rule after ktstr's: a kernel map name has at most 15 bytes
      { ".abcdefghijklmno", "map_name_suffix must be at most 15 bytes" },
    }
    for _, c in ipairs(cases) do
      it(string.format("%q: %s", c[1], c[2]), function()
        local err = rejects(c[1], "crash", 1, c[2])
        assert.is_truthy(err:find("bad argument #1", 1, true), err)
      end)
    end

    it("reports the first rule broken when several are", function()
      -- no leading dot and whitespace: the dot rule comes first
      rejects("b ss", "crash", 1, "must start with '.'")
      -- ".." start and a separator: the ".." rule comes first
      rejects("../x", "crash", 1, "must not start with '..'")
    end)
  end)

  describe("rejects field", function()
    local cases = {
      { "", "field must not be empty" },
      { "cr ash", "field must not contain whitespace" },
      { "a/b", "field must not contain '/' or '\\'" },
      { "cr\1ash", "field must contain only printable ASCII (byte 2 is 0x01)" },
      { "crash\0", "field must contain only printable ASCII (byte 5 is 0x00)" },
      { "crash.", "field must not start or end with '.'" },
      { ".crash", "field must not start or end with '.'" },
      { "a..b", "field must not contain '..' (empty path segment)" },
      -- bpfmap's path syntax: identifiers with optional [index] suffixes
      { "a[", "field segment 'a[' must be a C identifier" },
      { "a[]", "field segment 'a[]' must be a C identifier" },
      { "a[x]", "field segment 'a[x]' must be a C identifier" },
      { "1abc", "field segment '1abc' must be a C identifier" },
      { "a-b", "field segment 'a-b' must be a C identifier" },
      { "a.b]", "field segment 'b]' must be a C identifier" },
    }
    for _, c in ipairs(cases) do
      it(string.format("%q: %s", c[1], c[2]), function()
        local err = rejects(".bss", c[1], 1, c[2])
        assert.is_truthy(err:find("bad argument #2", 1, true), err)
      end)
    end
  end)

  describe("rejects value", function()
    it("that is not a number", function()
      rejects(".bss", "crash", "1", "value must be an integer, got string")
      rejects(".bss", "crash", nil, "value must be an integer, got nil")
      rejects(".bss", "crash", true, "value must be an integer, got boolean")
    end)
    it("that is a float with a fraction, NaN or infinite", function()
      rejects(".bss", "crash", 1.5, "value must be an integer, got 1.5")
      rejects(".bss", "crash", 0/0, "value must be an integer")
      rejects(".bss", "crash", math.huge, "value must be an integer")
      rejects(".bss", "crash", 2^63, "value must be an integer")
    end)
    it("accepts an integral float as its integer", function()
      assert.equal(3, new(".bss", "crash", 3.0):value())
      assert.is_true(math.type(new(".bss", "crash", 3.0):value()) == "integer")
    end)
  end)

  describe("rejects names of the wrong type", function()
    it("numbers are not names", function()
      rejects(1, "crash", 1, "map_name_suffix must be a string, got number")
      rejects(".bss", 1, 1, "field must be a string, got number")
      rejects({}, "crash", 1, "map_name_suffix must be a string, got table")
    end)
  end)

  describe("accepts", function()
    it("(\".bss\", \"crash\", 42) with its getters", function()
      local w = new(".bss", "crash", 42)
      assert.equal(".bss", w:map_name_suffix())
      assert.equal("crash", w:field())
      assert.equal(42, w:value())
    end)
    it("dot-paths and indices", function()
      assert.equal("a.b", new(".bss", "a.b", 1):field())
      assert.equal("slots[2].x", new(".bss", "slots[2].x", 1):field())
      assert.equal("grid[1][3]", new(".data.custom", "grid[1][3]", 1):field())
    end)
    it("every integer, including the extremes", function()
      assert.equal(math.mininteger, new(".bss", "x", math.mininteger):value())
      assert.equal(math.maxinteger, new(".bss", "x", math.maxinteger):value())
      assert.equal(-1, new(".bss", "x", -1):value())
    end)
    it("a 15-byte suffix", function()
      assert.equal(".abcdefghijklmn", new(".abcdefghijklmn", "x", 1):map_name_suffix())
    end)
  end)

  describe("is a value type", function()
    it("equal triples are equal and count once as table keys", function()
      local set = {}
      local writes = {
        new(".data", "crash", 1), new(".data", "stall", 2), new(".other", "crash", 1),
        new(".data", "crash", 1), new(".data", "crash", 1.0),
      }
      for _, w in ipairs(writes) do set[w] = true end
      local n = 0
      for _ in pairs(set) do n = n + 1 end
      assert.equal(3, n)
      assert.is_true(writes[1] == writes[4])
      assert.is_false(writes[1] == writes[3])
      assert.is_false(new(".data", "crash", 1) == new(".data", "crash", 2))
    end)
    it("is immutable", function()
      local w = new(".bss", "crash", 1)
      assert.has_error(function() w.value = function() return 2 end end)
      assert.equal(1, w:value())
    end)
    it("prints its triple", function()
      assert.equal('BpfMapWrite(".bss", "stats.limit", -3)',
        tostring(new(".bss", "stats.limit", -3)))
    end)
    it("survives garbage collection as a set key", function()
      local set = { [new(".bss", "gc_test", 9)] = true }
      collectgarbage()
      collectgarbage()
      assert.is_true(set[new(".bss", "gc_test", 9)])
    end)
    it("methods check their receiver", function()
      local w = new(".bss", "crash", 1)
      assert.has_error(function() w.value({}) end)
      assert.has_error(function() w.field("x") end)
    end)
  end)
end)
