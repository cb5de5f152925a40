# pyspy-c - a sampling profiler for CPython.
#   make            build ./pyspy-c
#   make check      the whole test suite (installs what it needs; see tests/run)
#   make demo       build, profile the bundled demo program, show the result
#   make bench      benchmarks (bench/)
#   make install    PREFIX=/usr/local DESTDIR=
#   make V=1        show the commands

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
#   serve (src/http, src/serve): libmicrohttpd
FLEET_SKIP :=
ifeq ($(NO_FLEET),)
HAVE_MHD := $(shell $(PKG_CONFIG) --exists libmicrohttpd 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_MHD),1)
PC_CFLAGS += -DPYSPY_HAVE_MHD $(shell $(PKG_CONFIG) --cflags libmicrohttpd)
PC_LIBS += $(shell $(PKG_CONFIG) --libs libmicrohttpd) -lpthread
else
FLEET_SKIP += src/http/% src/serve/%
endif

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Iinclude $(PC_CFLAGS) -MMD -MP
LDLIBS += $(PC_LIBS) -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

SRCS := $(filter-out $(FLEET_SKIP),$(sort $(wildcard src/*.c src/*/*.c)))
OBJS := $(SRCS:%.c=build/%.o)
LIB_OBJS := $(filter-out build/src/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJS := $(UNIT_SRCS:%.c=build/%.o)

all: pyspy-c

pyspy-c: $(OBJS)
	@[ -n "$(BASE_LIBS)" ] || { echo "missing libdw/libelf/libunwind-ptrace development files: run 'tests/deps build' (or apt-get install libdw-dev libelf-dev libunwind-dev)"; exit 1; }
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

build/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Switching the fleet parts on or off rebuilds what depends on it.
FLEET_STAMP := build/.fleet-$(if $(HAVE_MHD),mhd,none)
$(FLEET_STAMP):
	@mkdir -p build
	@rm -f build/.fleet-*
	@touch $@
build/src/cli/cmd_serve.o: $(FLEET_STAMP)

build/tests/unit/%.o: override CFLAGS += -Itests/unit -Itests/fixtures

tests/unit/run-unit: $(UNIT_OBJS) $(LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit: tests/unit/run-unit

check:
	tests/run

demo:
	demo/run

bench: pyspy-c
	bench/run

install: pyspy-c
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 755 pyspy-c $(DESTDIR)$(BINDIR)/pyspy-c
	install -m 644 man/pyspy-c.1 $(DESTDIR)$(MANDIR)/man1/pyspy-c.1
	install -m 644 completions/pyspy-c.bash $(DESTDIR)$(BASHCOMPDIR)/pyspy-c
	install -m 644 completions/_pyspy-c $(DESTDIR)$(ZSHCOMPDIR)/_pyspy-c
	install -m 644 completions/pyspy-c.fish $(DESTDIR)$(FISHCOMPDIR)/pyspy-c.fish

clean:
	rm -rf build pyspy-c tests/unit/run-unit

.PHONY: all unit check demo bench install clean

-include $(OBJS:.o=.d) $(UNIT_OBJS:.o=.d)
