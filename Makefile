# pyspy-c - a sampling profiler for CPython.
#   make            build ./pyspy-c
#   make check      the whole test suite (installs what it needs; see tests/run)
#   make demo       build, profile the bundled demo program, show the result
#   make demo-fleet a small fleet (workers, agents, collector) and the web app
#   make bench      benchmarks (bench/)
#   make install    PREFIX=/usr/local DESTDIR=
#   make V=1        show the commands
#   make SANITIZE=1 build-san/pyspy-c and build-san/run-unit with ASan+UBSan
#                   (make check SANITIZE=1 runs every suite with them)
#   make fuzz       libFuzzer targets (tests/fuzz), FUZZ_SECONDS each

PKG_CONFIG ?= pkg-config
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

LIBS_PC := libdw libelf libunwind-ptrace zlib
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
BASE_LIBS := $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null)
PC_LIBS := $(BASE_LIBS)

# The fleet parts are built only when pkg-config finds their libraries, so
# a minimal build of the profiler needs none of them (pyspy-c --version
# says which were built).  NO_FLEET=1 leaves them out even so.
#   serve (src/http/http.c, src/serve, src/web): libmicrohttpd
FLEET_SKIP :=
ifeq ($(NO_FLEET),)
HAVE_MHD := $(shell $(PKG_CONFIG) --exists libmicrohttpd 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_MHD),1)
PC_CFLAGS += -DPYSPY_HAVE_MHD $(shell $(PKG_CONFIG) --cflags libmicrohttpd)
PC_LIBS += $(shell $(PKG_CONFIG) --libs libmicrohttpd) -lpthread
else
FLEET_SKIP += src/http/http.c src/serve/% src/web/%
endif

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Iinclude $(PC_CFLAGS) -MMD -MP
LDLIBS += $(PC_LIBS) -lm

# Store backends (src/store): each built only when pkg-config finds its
# library, so a minimal build needs neither (pyspy-c --version lists the
# ones built).  NO_FLEET=1 leaves them out even so.
ifeq ($(NO_FLEET),)
HAVE_SQLITE := $(shell $(PKG_CONFIG) --exists sqlite3 2>/dev/null && echo 1)
HAVE_PQ := $(shell $(PKG_CONFIG) --exists libpq 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_SQLITE),1)
STORE_CFLAGS += -DPYSPY_HAVE_SQLITE $(shell $(PKG_CONFIG) --cflags sqlite3)
STORE_LIBS += $(shell $(PKG_CONFIG) --libs sqlite3)
else
FLEET_SKIP += src/store/sqlite.c
endif
ifeq ($(HAVE_PQ),1)
STORE_CFLAGS += -DPYSPY_HAVE_PQ $(shell $(PKG_CONFIG) --cflags libpq)
STORE_LIBS += $(shell $(PKG_CONFIG) --libs libpq)
else
FLEET_SKIP += src/store/postgres.c
endif
# The collector (src/collect) also needs libcurl.
ifeq ($(NO_FLEET),)
HAVE_CURL := $(shell $(PKG_CONFIG) --exists libcurl 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_CURL),1)
STORE_CFLAGS += -DPYSPY_HAVE_CURL $(shell $(PKG_CONFIG) --cflags libcurl)
STORE_LIBS += $(shell $(PKG_CONFIG) --libs libcurl)
else
FLEET_SKIP += src/collect/poll.c src/collect/collector.c
endif
override CFLAGS += $(STORE_CFLAGS)
LDLIBS += $(STORE_LIBS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

# SANITIZE=1: the same program built with AddressSanitizer (LeakSanitizer
# included) and UndefinedBehaviorSanitizer, in its own folder so that both
# builds live side by side.
ifeq ($(SANITIZE),1)
BUILD := build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
override CFLAGS += $(SAN_FLAGS)
override LDFLAGS += $(SAN_FLAGS)
PROG := $(BUILD)/pyspy-c
UNIT := $(BUILD)/run-unit
else
BUILD := build
PROG := pyspy-c
UNIT := tests/unit/run-unit
endif

SRCS := $(filter-out $(FLEET_SKIP),$(sort $(wildcard src/*.c src/*/*.c)))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
# The web app's files (web/, but its README), compiled into the program
# by one generated file (tools/embed_assets.c) that src/web serves.
ifeq ($(HAVE_MHD),1)
OBJS += $(BUILD)/gen/web_assets.o
endif
WEB_FILES := $(sort $(filter-out web/README.md,$(shell find web -type f 2>/dev/null)))
LIB_OBJS := $(filter-out $(BUILD)/src/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)

all: $(PROG)

$(PROG): $(OBJS)
	@[ -n "$(BASE_LIBS)" ] || { echo "missing libdw/libelf/libunwind-ptrace development files: run 'tests/deps build' (or apt-get install libdw-dev libelf-dev libunwind-dev)"; exit 1; }
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Switching the fleet parts on or off (NO_FLEET=1) rebuilds what depends on it.
FLEET_STAMP := $(BUILD)/.fleet-$(if $(HAVE_MHD),mhd,none)$(if $(HAVE_SQLITE),-sqlite)$(if $(HAVE_PQ),-pq)$(if $(HAVE_CURL),-curl)
$(FLEET_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.fleet-*
	@touch $@
$(BUILD)/src/cli/cli.o $(BUILD)/src/cli/cmd_serve.o $(BUILD)/src/cli/cmd_query.o \
$(BUILD)/src/cli/cmd_collect.o $(BUILD)/src/cli/cmd_web.o $(BUILD)/src/store/store.o: $(FLEET_STAMP)

# The generated assets file: rebuilt when a file of web/ changes, or one is
# added or removed (the list file changes only then).  The generator is
# built plainly (no sanitizer: it only runs at build time).  Explicit rules
# per build folder (not pattern rules, which make skips silently when a
# prerequisite cannot be made).
ifneq ($(shell find web -type f -name '* *' 2>/dev/null),)
$(error a file name under web/ has a space: make cannot list it)
endif
define WEB_ASSETS_RULES
$(1)/gen/web_assets.list: FORCE
	@mkdir -p $(1)/gen
	@echo '$$(WEB_FILES)' | cmp -s - $$@ || echo '$$(WEB_FILES)' > $$@
$(1)/gen/embed_assets: tools/embed_assets.c
	@mkdir -p $(1)/gen
	@echo "  CC      $$@"
	$$(Q)$$(CC) -O2 -Wall -Wextra -o $$@ $$<
$(1)/gen/web_assets.c: $(1)/gen/embed_assets $(1)/gen/web_assets.list $$(WEB_FILES)
	@echo "  GEN     $$@"
	$$(Q)$(1)/gen/embed_assets $$@ web $$(WEB_FILES)
endef
$(foreach d,$(sort $(BUILD) build-fuzz),$(eval $(call WEB_ASSETS_RULES,$(d))))
$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/web -c -o $@ $<

$(BUILD)/tests/unit/%.o: override CFLAGS += -Itests/unit -Itests/fixtures

$(UNIT): $(UNIT_OBJS) $(LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT)

# The store's benchmark tool (bench/store), linked with the program's objects.
bench/out/store-bench: $(BUILD)/bench/store_bench.o $(LIB_OBJS)
	@mkdir -p bench/out
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzzing (tests/fuzz/README.md): each tests/fuzz/fuzz_NAME.c is one
# libFuzzer target, linked with the program's code built by clang with
# ASan and UBSan.
FUZZ_CC ?= clang
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
# fuzz_http needs the servers (libmicrohttpd) and an SQLite store.
ifneq ($(HAVE_MHD)$(HAVE_SQLITE),11)
FUZZ_SRCS := $(filter-out tests/fuzz/fuzz_http.c,$(FUZZ_SRCS))
endif
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJS := $(LIB_OBJS:$(BUILD)/%.o=build-fuzz/%.o)

build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) -std=gnu11 -Iinclude $(PC_CFLAGS) $(STORE_CFLAGS) -Isrc -MMD -MP $(FUZZ_FLAGS) -c -o $@ $<

build-fuzz/gen/web_assets.o: build-fuzz/gen/web_assets.c
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) -std=gnu11 -Iinclude -Isrc/web -MMD -MP $(FUZZ_FLAGS) -c -o $@ $<

build-fuzz/fuzz_%: build-fuzz/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PC_LIBS) $(STORE_LIBS) -lm

# fuzz_http fills its store with the unit tests' fixture.
build-fuzz/fuzz_http: build-fuzz/tests/unit/store_fixture.o

# Writes fuzz_walk's seeds from live processes (tests/fuzz/seed.py).
build-fuzz/snapshot: build-fuzz/tests/fuzz/snapshot.o $(FUZZ_LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) -fsanitize=address,undefined -o $@ $^ $(PC_LIBS) $(STORE_LIBS) -lm

fuzz-build: $(FUZZ_BINS) build-fuzz/snapshot

fuzz: fuzz-build
	tests/fuzz/run

check:
	SANITIZE=$(SANITIZE) tests/run

demo:
	demo/run

demo-fleet:
	demo/fleet/run

bench: $(PROG)
	bench/run

install: $(PROG)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 755 pyspy-c $(DESTDIR)$(BINDIR)/pyspy-c
	install -m 644 man/pyspy-c.1 $(DESTDIR)$(MANDIR)/man1/pyspy-c.1
	install -m 644 completions/pyspy-c.bash $(DESTDIR)$(BASHCOMPDIR)/pyspy-c
	install -m 644 completions/_pyspy-c $(DESTDIR)$(ZSHCOMPDIR)/_pyspy-c
	install -m 644 completions/pyspy-c.fish $(DESTDIR)$(FISHCOMPDIR)/pyspy-c.fish

clean:
	rm -rf build build-san build-fuzz pyspy-c tests/unit/run-unit

FORCE:

.PHONY: all unit check demo demo-fleet bench install clean fuzz fuzz-build FORCE

-include $(OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(wildcard build-fuzz/*/*.d build-fuzz/*/*/*.d)
