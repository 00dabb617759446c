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
  summary = "BPF maps from Lua 5.4: MapData handles and BTF-resolved writes into live programs' globals",
  detailed = [[
bpfmap is a Lua 5.4 C module on libbpf. MapData is a handle to a BPF map
(create, from_pin, from_id, from_fd, pin, info); BpfMapWrite sets a loaded
program's global variable or struct field by name, resolved through the
map's BTF, with a single aligned store through the map's mmap.
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
        "csrc/discover.c", "csrc/dump.c", "csrc/elements.c", "csrc/errors.c", "csrc/log.c",
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
