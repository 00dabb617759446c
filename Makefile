# bpfmap: build, test, demo, REPL and benchmarks.
# On a fresh Debian 12 machine, as root: `make demo`, `make test`.
# Every target first installs the Debian packages it needs (.ci/install-deps).

LUA      ?= lua5.4
BUSTED   ?= /usr/bin/busted
CC       ?= cc
CFLAGS   ?= -O2 -g
LUA_INC  ?= /usr/include/lua5.4
MULTIARCH := $(shell gcc -dumpmachine 2>/dev/null)
# C11 for _Thread_local (the libbpf log buffer); warnings are errors here,
# not in the rockspec, so a newer compiler never breaks an install.
WARN     := -Wall -Wextra -Werror
CORE_CFLAGS = -std=gnu11 $(CFLAGS) $(WARN) -fPIC -I$(LUA_INC)
BPF_CFLAGS  = -g -O2 -target bpf -I/usr/include/$(MULTIARCH)

SRCS     := $(wildcard csrc/*.c)
HDRS     := $(wildcard csrc/*.h)
CORE     := build/bpfmap/core.so
FIXTURES := $(patsubst spec/fixtures/%.bpf.c,build/fixtures/%.bpf.o,$(wildcard spec/fixtures/*.bpf.c))
EXAMPLES_BPF := $(patsubst examples/bpf/%.bpf.c,build/examples/%.bpf.o,$(wildcard examples/bpf/*.bpf.c))
TESTS_C  := build/tests/test_names build/tests/test_btf_path

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;;
export LUA_CPATH := $(CURDIR)/build/?.so;;

.PHONY: all deps build test demo repl bench clean unit fuzz test-asan test-valgrind test-unprivileged
all: build

deps:
	@sh .ci/install-deps

build: deps $(CORE)

$(CORE): $(SRCS) $(HDRS) | build/bpfmap
	$(CC) $(CORE_CFLAGS) -shared -o $@ $(SRCS) -lbpf

build/bpfmap build/fixtures build/examples build/tests:
	mkdir -p $@

build/fixtures/%.bpf.o: spec/fixtures/%.bpf.c | build/fixtures
	clang $(BPF_CFLAGS) -c $< -o $@

build/examples/%.bpf.o: examples/bpf/%.bpf.c | build/examples
	clang $(BPF_CFLAGS) -c $< -o $@

# The pure-C parts (names, BTF paths) are tested without Lua.
build/tests/test_names: tests/test_names.c tests/check.h csrc/names.c csrc/names.h | build/tests
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) -o $@ tests/test_names.c csrc/names.c

build/tests/test_btf_path: tests/test_btf_path.c tests/check.h csrc/btf_path.c csrc/btf_path.h | build/tests
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) -o $@ tests/test_btf_path.c csrc/btf_path.c -lbpf

unit: $(TESTS_C)

# libFuzzer harnesses for the pure-C parts; FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc
build/tests/fuzz_names: tests/fuzz_names.c tests/require.h csrc/names.c csrc/names.h | build/tests
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz_names.c csrc/names.c

build/tests/fuzz_btf_path: tests/fuzz_btf_path.c tests/require.h csrc/btf_path.c csrc/btf_path.h | build/tests
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz_btf_path.c csrc/btf_path.c -lbpf

fuzz: deps build/tests/fuzz_names build/tests/fuzz_btf_path
	mkdir -p build/corpus/names build/corpus/btf_path
	build/tests/fuzz_names -max_total_time=$(FUZZ_SECONDS) -timeout=5 build/corpus/names tests/corpus/names
	build/tests/fuzz_btf_path -max_total_time=$(FUZZ_SECONDS) -timeout=5 build/corpus/btf_path tests/corpus/btf_path tests/fuzz_repro

# busted's own summary is for people; spec/support/summary.lua adds the plain
# "N passed, N failed, N skipped" line CI reads.
test: build $(FIXTURES) $(EXAMPLES_BPF) $(TESTS_C)
	$(LUA) $(BUSTED) $(BUSTED_ARGS)

demo: build $(EXAMPLES_BPF)
	$(LUA) examples/maps.lua
	$(LUA) examples/write_global.lua
	$(LUA) examples/killswitch.lua
	$(LUA) examples/tuning.lua
	$(LUA) examples/waiter.lua

repl: build
	$(LUA) -i -e 'bpfmap = require "bpfmap"; print("bpfmap loaded as the global `bpfmap`")'

# bench/install-deps adds the peers (bcc, LuaJIT + ljsyscall, kernel
# headers for bcc) from Debian's packages; nothing is installed at run time.
BENCH_BIN := build/bench/c_store build/bench/c_elems build/bench/bpfmapt_bch.bpf.o \
	build/bench/null_bpf.so

bench: build $(BENCH_BIN)
	@sh bench/install-deps
	$(LUA) bench/run.lua

# The C libbpf peers every figure is compared against (-O2, as a user's
# program would be built), and the bench's own BPF program.
build/bench/c_%: bench/peers/c_%.c bench/peers/peer.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) -o $@ $< -lbpf

build/bench/%.bpf.o: bench/bpf/%.bpf.c
	@mkdir -p $(@D)
	clang $(BPF_CFLAGS) -c $< -o $@

# Preloaded to time element operations with the kernel left out.
build/bench/null_bpf.so: bench/tools/null_bpf.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) -fPIC -shared -o $@ $< -ldl

clean:
	rm -rf build

# ---- Concurrency spec tools (issue 7): plain C + libbpf helpers that
# spec/concurrency_spec.lua runs: attach (keeps a BPF object's programs
# attached until its stdin closes), fire_getpid, rmw_writer. A separate
# prerequisite line, since `test:`'s own list is expanded when it is read.
TOOLS := build/tools/attach build/tools/fire_getpid build/tools/rmw_writer

build/tools:
	mkdir -p $@

build/tools/%: tests/tools/%.c | build/tools
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) -o $@ $< -lbpf

test: $(TOOLS)

# ---- Sanitizers and memcheck (issue 7).  Both run `make test` itself (same
# prerequisites, same suite) with LUA set to spec/support/checked_lua.sh,
# which runs lua5.4 under the tool, fails on any report and ends with the
# plain summary line.  --ignore-lua: busted would otherwise re-exec itself
# (.busted's `lua`), outside valgrind.
# test-asan: bpfmap.core built with ASan + UBSan into build/asan/ (never over
# build/bpfmap/core.so), and the ASan runtime it links LD_PRELOADed into
# lua5.4.  clang, not gcc: clang's one shared runtime holds the UBSan
# handlers too, so UBSan reports follow ASan's log_path into files; with
# gcc 12, libubsan next to a preloaded libasan ignores log_path and writes
# to stderr, where a spec that captures a child's output could hide it.
ASAN_CC     ?= clang
ASAN_CFLAGS ?= -O1 -g -fno-omit-frame-pointer
ASAN_RT      = $(shell $(ASAN_CC) -print-file-name=libclang_rt.asan-$(shell uname -m).so)
ASAN_CORE   := build/asan/bpfmap/core.so
VG_SHIM     := build/valgrind/vg_bpf_defined.so
CHECKED_LUA  = bash $(CURDIR)/spec/support/checked_lua.sh

$(ASAN_CORE): $(SRCS) $(HDRS) Makefile
	@mkdir -p $(@D)
	$(ASAN_CC) -std=gnu11 $(ASAN_CFLAGS) $(WARN) -fPIC -I$(LUA_INC) \
		-fsanitize=address,undefined -fno-sanitize-recover=all -shared-libasan \
		-shared -o $@ $(SRCS) -lbpf

test-asan: deps $(ASAN_CORE)
	@$(MAKE) --no-print-directory test BUSTED_ARGS='--ignore-lua $(BUSTED_ARGS)' \
		LUA='BPFMAP_ASAN_RT=$(ASAN_RT) $(CHECKED_LUA) asan $(LUA)'

# test-valgrind: memcheck on the lua5.4 running the specs, normal build,
# spec/support/valgrind.supp; the few specs spec/support/valgrind.exclude
# names (valgrind makes their timing and /proc/PID/maps checks false) are
# left out and counted as skipped.
$(VG_SHIM): spec/support/vg_bpf_defined.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) -fPIC -shared -o $@ $< -ldl

test-valgrind: deps $(VG_SHIM)
	@$(MAKE) --no-print-directory test BUSTED_ARGS='--ignore-lua $(BUSTED_ARGS)' \
		LUA='$(CHECKED_LUA) valgrind $(LUA)'

# ---- The suite without privilege (issue 7): as nobody with no capability,
# argument checks pass and privileged specs are pending, with the reason.
test-unprivileged: build $(FIXTURES) $(EXAMPLES_BPF) $(TESTS_C) $(TOOLS)
	bash spec/support/unprivileged.sh $(LUA) $(BUSTED) $(BUSTED_ARGS)
