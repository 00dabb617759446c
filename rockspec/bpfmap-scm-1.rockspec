-- luarocks --lua-version=5.4 make rockspec/bpfmap-scm-1.rockspec
rockspec_format = "3.0"
package = "bpfmap"
version = "scm-1"
-- `luarocks make` builds the checkout it runs in; source.url is only read by
-- `luarocks install`/`pack`, which would take the project's own repository.
source = {
  url = "git+file://.",
  branch = "main",
}
description = {
  summary = "BPF maps from Lua 5.4 on libbpf: map handles, BTF-typed values, writes into live programs, scenarios",
  detailed = [[
bpfmap is a Lua 5.4 C module on libbpf for scripts, busted suites and a
REPL that test and probe BPF programs on a live Linux system. MapData is
a handle to a BPF map (create, from_pin, from_id, from_fd, pin, info) with
its element and batch operations, and values read and written by field
name through the map's BTF (get, set, read, write, dump). BpfMapWrite sets
a loaded program's global variable or struct field by name with a single
aligned store through the map's mmap. Object loads, attaches and test-runs
BPF objects; bpfmap.scenario drives a declared scenario (load or find the
programs, apply writes, signal waiting steps and child processes, check
the outcome). The bpfmap command lists, shows, reads, writes, dumps and
pins maps from a shell, with --json.
]],
  license = "MIT",
  labels = { "bpf", "ebpf", "libbpf", "linux" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  LIBBPF = {
    header = "bpf/libbpf.h",
    library = "bpf",
  },
}
build = {
  type = "builtin",
  modules = {
    ["bpfmap.core"] = {
      sources = {
        "csrc/batch.c", "csrc/btf.c", "csrc/btf_cache.c", "csrc/btf_path.c", "csrc/core.c",
        "csrc/discover.c", "csrc/dump.c", "csrc/elements.c", "csrc/errors.c", "csrc/field.c", "csrc/log.c",
        "csrc/mapdata.c", "csrc/mapinfo.c", "csrc/mapwrite.c", "csrc/names.c", "csrc/object.c",
        "csrc/process.c", "csrc/program.c", "csrc/typed.c",
      },
      defines = { "_GNU_SOURCE" },
      libraries = { "bpf" },
      incdirs = { "$(LIBBPF_INCDIR)" },
      libdirs = { "$(LIBBPF_LIBDIR)" },
    },
    bpfmap = "lua/bpfmap/init.lua",
    ["bpfmap.scenario"] = "lua/bpfmap/scenario.lua",
    ["bpfmap.cli"] = "lua/bpfmap/cli.lua",
  },
  install = {
    bin = { bpfmap = "bin/bpfmap" },
  },
}
