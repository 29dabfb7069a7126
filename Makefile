# stslua: C core + Lua module for scripting and testing Linux device-mapper.
#
#   make            build build/stslua and build/sts/core.so
#   make check      install deps, build, run every test (host tier + kernel tier in the sandbox)
#   make demo       install deps, build, run an example storage test script
#   make install    PREFIX=/usr/local DESTDIR=
#   make doc        the reference (LDoc, config.ld) as HTML into build/doc/
#   make asan       the same build with AddressSanitizer + UBSan, into build-asan/

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build

PKG_CONFIG ?= pkg-config
LUA_PC     ?= lua5.4
LUA        ?= lua5.4

CC      ?= gcc
WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
CFLAGS  ?= -O2 -g
SAN     ?=
# LUA_CFLAGS, DM_CFLAGS and DM_LIBS come from pkg-config unless given (the
# rockspec passes LuaRocks' include and library directories)
LUA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC))
DM_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags devmapper 2>/dev/null)
ALL_CFLAGS  = $(CFLAGS) $(SAN) $(WARN) -std=gnu11 -fPIC -D_GNU_SOURCE \
              $(LUA_CFLAGS) $(DM_CFLAGS) -Isrc
LDFLAGS ?=
DM_LIBS   ?= $(shell $(PKG_CONFIG) --libs devmapper 2>/dev/null || echo -ldevmapper)
LUA_LIBS  := $(shell $(PKG_CONFIG) --libs $(LUA_PC) 2>/dev/null || echo -llua5.4)
READLINE_LIBS := -lreadline
EXPAT_LIBS := $(shell $(PKG_CONFIG) --libs expat 2>/dev/null || echo -lexpat)

# Where stock lua5.4 looks. PREFIX=/usr: the directories pkg-config names
# for this Lua (Debian's multiarch ones). Any other PREFIX: Lua's own layout
# below it (luaconf.h's PREFIX/share/lua/5.4 and PREFIX/lib/lua/5.4), which
# for the default /usr/local is on lua5.4's built-in package.path/cpath.
# Both can be set on the command line (LMOD_DIR=... CMOD_DIR=...).
PC_LMOD := $(shell $(PKG_CONFIG) --variable=INSTALL_LMOD $(LUA_PC) 2>/dev/null)
PC_CMOD := $(shell $(PKG_CONFIG) --variable=INSTALL_CMOD $(LUA_PC) 2>/dev/null)
ifeq ($(patsubst %/,%,$(PREFIX)),/usr)
LMOD_DIR ?= $(or $(PC_LMOD),/usr/share/lua/5.4)
CMOD_DIR ?= $(or $(PC_CMOD),/usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/lua/5.4)
else
LMOD_DIR ?= $(PREFIX)/share/lua/5.4
CMOD_DIR ?= $(PREFIX)/lib/lua/5.4
endif
BINDIR ?= $(PREFIX)/bin
# the suite runner, installed beside stslua when the tree has it
STS_TEST := $(wildcard scripts/sts-test)

CORE_SRCS := $(filter-out src/stslua.c,$(wildcard src/*.c))
CORE_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRCS))
LUA_SRCS  := $(shell find lua -name '*.lua' | sort)
HEADERS   := $(wildcard src/*.h)

STSLUA  := $(BUILD)/stslua
COREMOD := $(BUILD)/sts/core.so

.PHONY: all deps check check-host demo install uninstall clean asan suite doc

all: $(STSLUA) $(COREMOD)

$(BUILD)/obj/%.o: src/%.c $(HEADERS) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c src/embedded.h | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/embedded.c: scripts/embed-lua $(LUA_SRCS) | $(BUILD)/obj
	$(LUA) scripts/embed-lua $@ lua $(LUA_SRCS)

$(COREMOD): $(CORE_OBJS) | $(BUILD)/sts
	$(CC) $(SAN) -shared -o $@ $(CORE_OBJS) $(LDFLAGS) $(DM_LIBS) $(EXPAT_LIBS)

$(STSLUA): $(BUILD)/obj/stslua.o $(BUILD)/obj/embedded.o $(CORE_OBJS)
	$(CC) $(SAN) -rdynamic -o $@ $^ $(LDFLAGS) $(LUA_LIBS) $(DM_LIBS) $(EXPAT_LIBS) $(READLINE_LIBS) -lm -ldl

$(BUILD)/obj $(BUILD)/sts:
	mkdir -p $@

deps:
	@scripts/install-deps

check: deps
	@scripts/run-checks

check-host: all
	@scripts/run-checks --host-only

demo: deps all
	@scripts/demo

# make suite: every regression scenario of scripts/suites/ through the
# suite runner, each in a fresh sandbox guest started from a saved one.
# SUITE=thin (a family) or a scenario's path picks less; SUITE_KERNEL=trixie
# a kernel (sts-vm --kernel); SUITE_MEMORY the guests' memory (MB);
# SUITE_ARGS more sts-test options (--quick, -j 2, --junit FILE ...)
SUITE         ?= scripts/suites
SUITE_KERNEL  ?=
SUITE_ARGS    ?=
# guest memory in MB (sts-vm's default 1024; dm-vdo on trixie wants more)
SUITE_MEMORY  ?= $(if $(filter trixie,$(SUITE_KERNEL)),1536)
SUITE_PATH     = $(if $(wildcard $(SUITE)),$(SUITE),scripts/suites/$(SUITE))
suite: deps all
	scripts/sts-test run --vm-arg --saved-state $(if $(SUITE_MEMORY),--vm-arg --memory --vm-arg $(SUITE_MEMORY)) \
	  $(if $(SUITE_KERNEL),--kernel $(SUITE_KERNEL)) $(SUITE_ARGS) $(SUITE_PATH)

asan:
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" CFLAGS="-O1 -g" all

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(CMOD_DIR)/sts $(DESTDIR)$(LMOD_DIR)/sts
	install -m 0755 $(STSLUA) $(DESTDIR)$(BINDIR)/stslua
	$(if $(STS_TEST),install -m 0755 $(STS_TEST) $(DESTDIR)$(BINDIR)/sts-test)
	install -m 0755 $(COREMOD) $(DESTDIR)$(CMOD_DIR)/sts/core.so
	cd lua && for f in $$(find sts -name '*.lua'); do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(LMOD_DIR)/$$f" || exit 1; done

# LDoc reads the doc comments of lua/sts (config.ld) and writes HTML;
# build/doc/index.html lists the modules
doc:
	rm -rf $(BUILD)/doc
	ldoc -c config.ld -d $(BUILD)/doc .

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/stslua $(DESTDIR)$(BINDIR)/sts-test $(DESTDIR)$(CMOD_DIR)/sts/core.so
	rm -rf $(DESTDIR)$(LMOD_DIR)/sts

clean:
	rm -rf build build-asan build-fuzz

# ---- sandbox ----
# The VM sandbox (scripts/sts-vm) keeps its kernel and initramfs in .vm/,
# which `make clean` leaves alone.
.PHONY: check-host-kernel vm-prepare vm-clean

# both tiers on this machine, the kernel tier against its own device-mapper
check-host-kernel: all
	@if [ "$$(id -u)" -ne 0 ] || ! { grep -qw device-mapper /proc/misc || \
	    { modprobe -q dm-mod 2>/dev/null && grep -qw device-mapper /proc/misc; }; }; then \
	  echo "check-host-kernel: needs root and a kernel with device-mapper (else: make check)" >&2; exit 1; fi
	@STS_KERNEL_ON_HOST=1 scripts/run-checks

vm-prepare:
	@scripts/sts-vm prepare

vm-clean:
	@scripts/sts-vm clean

# ---- bench ----
# make bench: one sandbox boot runs every workload of scripts/bench/run.lua,
# stslua against the C floor (scripts/bench/floor.c over libdevmapper) and
# against dmsetup, alternately; prints a table and BENCH lines. The floor is
# a Lua C module so the sandbox carries it in (build/bench is the --build
# dir: stslua plus sts/floor.so). BENCH_ARGS go to the driver (--quick,
# --reps N); BENCH_VM_ARGS to the sandbox (e.g. --kernel-arg NAME=VALUE);
# BENCH_TIMEOUT bounds the guest.
# Then, on this machine, guest_start (scripts/bench/guest-start.sh): a
# cold boot against a guest restored from a saved one, BENCH_GUEST_ROUNDS
# alternating rounds.
# make bench-profile: where workload 1's time goes, each ioctl and the
# kernel's removal (function_graph tracer), scripts/bench/profile.lua.
# make bench-host (run first by make bench): the host-side workloads of
# scripts/bench/host.lua, stslua against Python on this machine, no sandbox;
# BENCH_HOST_ARGS go to it (--quick, --reps N, --mappings N, --rss-mappings N).
.PHONY: bench bench-floor bench-profile bench-host
BENCH_HOST_ARGS ?=
BENCH_DIR     := $(BUILD)/bench
BENCH_FLOOR   := $(BENCH_DIR)/sts/floor.so
BENCH_TIMEOUT ?= 3600
BENCH_ARGS    ?=
BENCH_VM_ARGS ?=
BENCH_GUEST_ROUNDS ?= 7

bench-floor: $(BENCH_FLOOR) $(BENCH_DIR)/stslua

$(BENCH_FLOOR): scripts/bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $< $(LDFLAGS) $(DM_LIBS)

$(BENCH_DIR)/stslua: $(STSLUA)
	@mkdir -p $(dir $@)
	ln -sf ../stslua $@

bench-host: all
	$(STSLUA) scripts/bench/host.lua $(BENCH_HOST_ARGS)

bench: deps all bench-floor bench-host
	STS_VM_EXTRA_PROGRAMS=/usr/bin/fio scripts/sts-vm --timeout $(BENCH_TIMEOUT) --build $(BENCH_DIR) \
	  $(BENCH_VM_ARGS) run scripts/bench/run.lua $(BENCH_ARGS)
	scripts/bench/guest-start.sh $(BENCH_GUEST_ROUNDS) -- $(BENCH_VM_ARGS)

bench-profile: deps all
	scripts/sts-vm --timeout $(BENCH_TIMEOUT) $(BENCH_VM_ARGS) run scripts/bench/profile.lua

# ---- hardening ----
# make valgrind   memcheck (full leak check, --error-exitcode) over the host
#                 specs that drive the C core, on the plain build; the 150 MB
#                 pipe-drain test is left out (it takes minutes under memcheck)
# make fuzz       each libFuzzer harness in fuzz/ for FUZZ_SECONDS seconds,
#                 from fuzz/corpus + fuzz/regression; crashes land in
#                 build-fuzz/crash-TARGET-*, new inputs in build-fuzz/work/
# make soak       the kernel-tier resource spec with 10,000 create/remove
#                 cycles (make check runs 1,000), under ASan in the sandbox
.PHONY: valgrind fuzz fuzz-build soak
VALGRIND_SPECS ?= spec/proc_spec.lua spec/dm_spec.lua spec/errors_spec.lua \
                  spec/targets_spec.lua spec/status_spec.lua spec/dmpd_spec.lua \
                  spec/badinput_spec.lua spec/fuzz_regression_spec.lua \
                  spec/io_spec.lua spec/logwrites_spec.lua spec/dmpd_stream_spec.lua
valgrind: all
	valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	  $(STSLUA) /usr/bin/busted -o plainTerminal --exclude-tags=kernel,sandbox \
	  --filter-out='drains 100%+ MB' $(VALGRIND_SPECS)

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := parse_table status dmpd_argv xml dmpd_text c_entry
FUZZ_DIR     := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/fuzz-%,$(FUZZ_TARGETS))
FUZZ_CORE    := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(CORE_SRCS)) $(FUZZ_DIR)/obj/embedded.o

fuzz-build:
	$(MAKE) BUILD=$(FUZZ_DIR) CC=clang CFLAGS="-O1 -g" SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" all
	$(MAKE) $(FUZZ_BINS)

$(FUZZ_DIR)/fuzz-%: fuzz/harness.c $(FUZZ_CORE)
	clang -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer $(WARN) -DSTS_FUZZ_TARGET='"$*"' \
	  $(shell $(PKG_CONFIG) --cflags $(LUA_PC)) -Isrc -o $@ $< $(FUZZ_CORE) \
	  $(LUA_LIBS) $(DM_LIBS) $(EXPAT_LIBS) -lm -ldl

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/work/$$t; echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  reg=; [ -d fuzz/regression/$$t ] && reg=fuzz/regression/$$t; \
	  $(FUZZ_DIR)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=4096 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
	    $(FUZZ_DIR)/work/$$t fuzz/corpus/$$t $$reg 2>&1 | \
	    grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)' || exit 1; \
	done

soak: asan
	scripts/sts-vm --build build-asan --timeout 3600 --env STS_SOAK_CYCLES=10000 \
	  spec -- --tags=kernel spec/resources_spec.lua
