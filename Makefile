# Vigil: plain, non-recursive Makefile.
#
#   make            build the three programs into build/
#   make test       install missing build deps, build, run unit + e2e tests
#   make check      the same tests under AddressSanitizer + UBSan (build/asan/)
#   make demo       throw-away PKI, collector and agent on loopback
#   make bench      benchmarks (print figures; never fail on time)
#   make test-html  the HTML report in headless Chromium, its CSV, its JSON schema
#   make deb        Debian packages into build/pkg/ (make deb VERSION=X)
#   make rpm        rpm packages into build/pkg/
#   make test-packages  install, upgrade and remove them in scratch roots
#   make lint       cppcheck and clang-tidy on lib/, agent/, collector/; fails on any finding
#   make clean
#
# Variables: CC (gcc or clang), BUILD (output dir), SAN=1 (sanitizers),
# V=1 (show commands), VERSION, TEST_HOOKS=0|1 (see below).

VERSION ?= 0.1.0
BUILD ?= build
GEN := build/gen
CC ?= cc
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS := libuv libprotobuf-c liblz4 liblzma sqlite3 libpq inih jansson zlib libbpf libnftables libarchive libseccomp libcap-ng
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# The agent links only what it uses from start to stop: libnftables
# (isolation) and libarchive (triage, with libxml2, ICU and libstdc++
# behind it) are opened at first use (lib/dlib.h), so they are build
# dependencies (headers) but not on its link line.  Unit tests that link
# those objects keep $(LIBS): they call the libraries directly too.
AGENT_PKGS := libuv libprotobuf-c liblz4 liblzma inih jansson zlib libbpf libseccomp libcap-ng
AGENT_PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(AGENT_PKGS) 2>/dev/null)
# Debian 12's mbedtls 2.28 ships no .pc file.
MBEDTLS_LIBS := -lmbedtls -lmbedx509 -lmbedcrypto

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wmissing-prototypes \
        -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral -Wvla
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DVG_VERSION=\"$(VERSION)\" $(WARN) $(CFLAGS) \
              -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE \
              -Ilib -Iagent -Iagent/priv -Iagent/net -I$(GEN) $(PKG_CFLAGS) -MMD -MP
# Test hooks (STYLE.md: "Test hooks are not shipped"): the VIGIL_TEST_*
# fault injection and probes the e2e tests use (a collector that dies
# after a commit, a command delivered twice, an upload dropped, a forged
# CSR subject, the network child's sandbox probe) are compiled only with
# -DVG_TEST_HOOKS.  The build directories developers and tests use have
# them (TEST_HOOKS=1, the default); the packaged programs are built with
# TEST_HOOKS=0 in a directory of their own (make pkgbins), and make
# test-packages checks that no VIGIL_TEST_ string is in them.
# $(BUILD)/test-hooks records the setting: changing it rebuilds everything.
TEST_HOOKS ?= 1
ifeq ($(TEST_HOOKS),1)
ALL_CFLAGS += -DVG_TEST_HOOKS
endif
HOOKS_STAMP := $(BUILD)/test-hooks
ifneq ($(shell cat $(HOOKS_STAMP) 2>/dev/null),$(TEST_HOOKS))
$(shell mkdir -p $(BUILD) && echo $(TEST_HOOKS) >$(HOOKS_STAMP))
endif
# Generated protobuf-c code is not ours to fix: same standard, fewer warnings.
GEN_CFLAGS := -std=c11 -D_GNU_SOURCE $(CFLAGS) -fPIE -I$(GEN) $(PKG_CFLAGS) -w -MMD -MP
ALL_LDFLAGS := -pie -Wl,-z,relro,-z,now $(LDFLAGS)

ifeq ($(SAN),1)
ALL_CFLAGS := $(filter-out -D_FORTIFY_SOURCE=2,$(ALL_CFLAGS)) -O1 \
              -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
GEN_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
ALL_LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(FUZZ),1)
ALL_CFLAGS += -fsanitize=fuzzer-no-link
endif

LIBS := $(PKG_LIBS) $(MBEDTLS_LIBS) -lm -ldl
AGENT_LIBS := $(AGENT_PKG_LIBS) $(MBEDTLS_LIBS) -lm -ldl

# ---- sources ---------------------------------------------------------------

PROTOS := $(wildcard proto/vigil/v1/*.proto)
GEN_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
GEN_H := $(GEN_C:.c=.h)

LIB_SRC := $(wildcard lib/*.c)
AGENT_SRC := $(wildcard agent/*.c agent/priv/*.c agent/priv/inputs/*.c agent/net/*.c)
COLLECTOR_SRC := $(wildcard collector/*.c)
CTL_SRC := $(wildcard collector/ctl/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ := $(call obj,$(LIB_SRC)) $(patsubst $(GEN)/%.c,$(BUILD)/obj/gen/%.o,$(GEN_C))
LIBVIGIL := $(BUILD)/libvigil.a

AGENT := $(BUILD)/vigil-agent
COLLECTOR := $(BUILD)/vigil-collector
CTL := $(BUILD)/vigilctl
PROGS := $(AGENT) $(COLLECTOR) $(CTL)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
FUZZ_BIN := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_NAMES))
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# Helper programs the end-to-end tests run (an exec storm).
# confman writes the configuration man pages from the config maps
# (packaging/man/confman.c); t_man.sh checks the pages are current.
CONFMAN := $(BUILD)/confman
CONF_MAN := packaging/man/vigil-agent.conf.5 packaging/man/vigil-collector.conf.5
TOOL_BIN := $(BUILD)/bench/execstorm $(CONFMAN)
# N simulated agents in one process (tests/bench/loadgen.c): built with
# the programs, run by tests/e2e/t_loadgen.sh and scripts/bench_loadgen.sh.
LOADGEN := $(BUILD)/vigil-loadgen

# ---- build -----------------------------------------------------------------

# Keep generated sources and objects: make would delete them as intermediates.
.SECONDARY:

.PHONY: all deps test check unit e2e e2e-pg demo bench clean checksrc callcycles tests fuzz fuzz-build \
        fuzz-smoke test-html pkgbins deb rpm test-packages lint man
.DEFAULT_GOAL := all

all: $(PROGS) $(LOADGEN) $(CONF_MAN)

# The configuration man pages, from the tables that parse the files.
$(CONFMAN): $(BUILD)/obj/packaging/man/confman.o $(BUILD)/obj/agent/conf.o \
            $(BUILD)/obj/collector/conf.o
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

packaging/man/vigil-%.conf.5: $(CONFMAN)
	@echo "  GEN     $@"
	$(Q)$(CONFMAN) $* >$@.tmp && mv $@.tmp $@

man: $(CONF_MAN)

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	@echo "  PROTOC  $<"
	$(Q)protoc-c -Iproto --c_out=$(GEN) $<

# Every object may include any generated header.
$(BUILD)/obj/%.o: %.c $(HOOKS_STAMP) | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/gen/%.o: $(GEN)/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(GEN_CFLAGS) -c $< -o $@

# eBPF: vmlinux.h from the build machine's BTF (CO-RE: libbpf relocates
# field offsets for the running kernel at load), the BPF object, and its
# libbpf skeleton, which embeds the object in the agent.
BPF_CLANG ?= clang
# DWARF out, BTF kept (CO-RE needs it): 650 KB less in the agent.
LLVM_STRIP ?= llvm-strip
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
$(GEN)/vmlinux.h:
	@mkdir -p $(GEN)
	@echo "  BTF     $@"
	$(Q)bpftool btf dump file /sys/kernel/btf/vmlinux format c >$@.tmp && mv $@.tmp $@

$(GEN)/proc.bpf.o: agent/priv/bpf/proc.bpf.c agent/priv/bpf/proc.h $(GEN)/vmlinux.h
	@echo "  BPF     $<"
	$(Q)$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -I$(GEN) -Iagent/priv/bpf \
		-c $< -o $@.tmp
	$(Q)$(LLVM_STRIP) -g $@.tmp && mv $@.tmp $@

$(GEN)/proc.skel.h: $(GEN)/proc.bpf.o
	@echo "  SKEL    $@"
	$(Q)bpftool gen skeleton $< name proc_bpf_obj >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/agent/priv/proc_bpf.o: $(GEN)/proc.skel.h

$(LIBVIGIL): $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(AGENT): $(call obj,$(AGENT_SRC)) $(LIBVIGIL)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(COLLECTOR): $(call obj,$(COLLECTOR_SRC)) $(LIBVIGIL)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(CTL): $(call obj,$(CTL_SRC)) $(LIBVIGIL)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

# dlib's test opens libz itself: nothing else may have mapped it.
$(BUILD)/tests/test_dlib: $(BUILD)/obj/tests/unit/test_dlib.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -ldl -lpthread $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

# Unit tests of agent modules link the module itself (before the library).
$(BUILD)/tests/test_spool: $(BUILD)/obj/tests/unit/test_spool.o $(BUILD)/obj/agent/net/spool.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/test_runstate: $(BUILD)/obj/tests/unit/test_runstate.o $(BUILD)/obj/agent/priv/runstate.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

DPKG_OBJ := $(addprefix $(BUILD)/obj/agent/priv/,pkg_dpkg.o pkg_dpkglog.o pkg_rpm.o zfile.o)
$(BUILD)/tests/test_dpkg: $(BUILD)/obj/tests/unit/test_dpkg.o $(DPKG_OBJ) $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

PENDING_OBJ := $(addprefix $(BUILD)/obj/agent/priv/,pkg_apt.o pkg_dnf.o pending_state.o zfile.o pkg_dpkg.o)
$(BUILD)/tests/test_pending: $(BUILD)/obj/tests/unit/test_pending.o $(PENDING_OBJ) $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/test_proc: $(BUILD)/obj/tests/unit/test_proc.o $(BUILD)/obj/agent/priv/proc_read.o \
                     $(BUILD)/obj/agent/priv/proc_hash.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/test_store: $(BUILD)/obj/tests/unit/test_store.o $(BUILD)/obj/collector/store_sqlite.o $(BUILD)/obj/collector/db.o \
                      $(BUILD)/obj/collector/store_pg_schema.o \
                      $(BUILD)/obj/collector/store_backup.o $(BUILD)/obj/collector/store_export.o \
                      $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/test_db: $(BUILD)/obj/tests/unit/test_db.o $(BUILD)/obj/collector/db.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/test_limits: $(BUILD)/obj/tests/unit/test_limits.o $(BUILD)/obj/collector/limits.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/test_advisory: $(BUILD)/obj/tests/unit/test_advisory.o $(BUILD)/obj/collector/advisory.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

COMPLIANCE_OBJ := $(addprefix $(BUILD)/obj/collector/,compliance.o ossupport.o)
$(BUILD)/tests/test_compliance: $(BUILD)/obj/tests/unit/test_compliance.o $(COMPLIANCE_OBJ) $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/test_report_render: $(BUILD)/obj/tests/unit/test_report_render.o $(BUILD)/obj/collector/report_render.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

# Renders a report document to HTML and CSV (make test-html).
$(BUILD)/tests/render_report: $(BUILD)/obj/tests/html/render_sample.o $(BUILD)/obj/collector/report_render.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

ISOLATE_OBJ := $(addprefix $(BUILD)/obj/agent/priv/,cmd_isolate_nft.o cmd_isolate_ipt.o iso_lease.o)
$(BUILD)/tests/test_isolate: $(BUILD)/obj/tests/unit/test_isolate.o $(ISOLATE_OBJ) $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

TRIAGE_OBJ := $(addprefix $(BUILD)/obj/agent/priv/,cmd_triage.o proc_read.o pkg_dpkg.o \
	pkg_dpkglog.o pkg_rpm.o zfile.o)
$(BUILD)/tests/test_triage: $(BUILD)/obj/tests/unit/test_triage.o $(TRIAGE_OBJ) $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/bench/bench_spool: $(BUILD)/obj/tests/bench/bench_spool.o $(BUILD)/obj/agent/net/spool.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/bench_report: $(BUILD)/obj/tests/bench/bench_report.o $(COMPLIANCE_OBJ) $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(LOADGEN): $(BUILD)/obj/tests/bench/loadgen.o $(LIBVIGIL)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Fuzz targets link the agent and collector modules they test (before
# the library): FUZZ_MODS_<target>, objects relative to $(BUILD)/obj/.
FUZZ_MODS_fuzz_advisory := collector/advisory.o
FUZZ_MODS_fuzz_spool := agent/net/spool.o
FUZZ_MODS_fuzz_dpkg := $(addprefix agent/priv/,pkg_dpkg.o pkg_dpkglog.o zfile.o)
FUZZ_MODS_fuzz_dpkglog := $(addprefix agent/priv/,pkg_dpkg.o pkg_dpkglog.o zfile.o)
FUZZ_MODS_fuzz_apt := $(addprefix agent/priv/,pkg_apt.o pkg_dnf.o pending_state.o pkg_dpkg.o zfile.o)
FUZZ_MODS_fuzz_pending_seen := $(addprefix agent/priv/,pkg_dnf.o pending_state.o pkg_rpm.o pkg_dpkg.o zfile.o)
FUZZ_MODS_fuzz_dnf := $(addprefix agent/priv/,pkg_dnf.o pending_state.o pkg_rpm.o pkg_dpkg.o zfile.o)
FUZZ_MODS_fuzz_rpm := $(addprefix agent/priv/,pkg_rpm.o pkg_dpkg.o pkg_dpkglog.o zfile.o)
FUZZ_MODS_fuzz_proc := agent/priv/proc_read.o
FUZZ_MODS_fuzz_zfile := agent/priv/zfile.o
FUZZ_MODS_fuzz_osrelease := agent/priv/os_release.o

define fuzz_link
$(BUILD)/fuzz/$(1): $(BUILD)/obj/tests/fuzz/$(1).o $(addprefix $(BUILD)/obj/,$(FUZZ_MODS_$(1))) $(LIBVIGIL)
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(LIBS)
endef
# fuzz_collector_* targets have a pattern rule of their own.
$(foreach f,$(filter-out fuzz_collector_%,$(FUZZ_NAMES)),$(eval $(call fuzz_link,$(f))))

# ---- collector fuzz harnesses ----
# tests/fuzz/fuzz_collector_*.c drive the collector's own code (every
# collector object but main.o: decoding, session, dispatch table, handlers,
# a real SQLite store in a temporary directory); tests/fuzz/fake_tls.c
# stands in for lib/tls.c (no sockets), so lib/tls.o is never linked.
FZ_COLLECTOR_OBJ := $(call obj,$(filter-out collector/main.c,$(COLLECTOR_SRC)) \
	tests/fuzz/collector_fuzz.c tests/fuzz/fake_tls.c)
$(BUILD)/fuzz/fuzz_collector_%: $(BUILD)/obj/tests/fuzz/fuzz_collector_%.o $(FZ_COLLECTOR_OBJ) $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# Writes the committed seeds of the collector harnesses (valid messages,
# a real CSR): $(BUILD)/fuzz/collector_seeds tests/fuzz/corpus
$(BUILD)/fuzz/collector_seeds: $(BUILD)/obj/tests/fuzz/collector_seeds.o $(LIBVIGIL)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

tests: $(PROGS) $(LOADGEN) $(UNIT_BIN) $(TOOL_BIN)

# ---- static analysis -------------------------------------------------------

# Every source of the three programs and the library (tests and fuzz
# harnesses are not checked), with the flags they are compiled with:
# clang-tidy (.clang-tidy says which checks and why) and cppcheck
# (scripts/cppcheck-suppress.txt says what it may not report and why),
# one file per job, a stamp per file and tool under $(BUILD)/lint/.
# A file is checked again when it, a header or the configuration changes.
# Any finding fails.  Runs as many at once as make -jN says, or LINT_JOBS
# (default: the number of CPUs) when make was given no -j.
CLANG_TIDY ?= clang-tidy
CPPCHECK ?= cppcheck
LINT_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
LINT_SRC := $(LIB_SRC) $(AGENT_SRC) $(COLLECTOR_SRC) $(CTL_SRC)
LINT_HDR := $(wildcard lib/*.h agent/*.h agent/priv/*.h agent/priv/inputs/*.h agent/net/*.h \
	collector/*.h collector/ctl/*.h)
LINT_CFLAGS := $(filter-out -MMD -MP,$(ALL_CFLAGS))
LINT_OK := $(patsubst %.c,$(BUILD)/lint/tidy/%.ok,$(LINT_SRC)) \
	$(patsubst %.c,$(BUILD)/lint/cppcheck/%.ok,$(LINT_SRC))
# cppcheck reads our headers but not the system's (-I/usr/... would have
# it check glibc, slowly): the macros it needs from those are in
# scripts/cppcheck.cfg, the protobuf-c version the generated headers test
# is given here, and the machine's architecture macro (__x86_64__).  Only
# the configuration we build is checked (-D...).  Not --enable=style: on
# this tree it is mostly "condition always true" about protobuf-c counts
# and the `if ((rc = f()) < 0) goto err;` stores that .clang-tidy also
# accepts, and clang-tidy's dead-store check finds the real ones.
CPPCHECK_FLAGS = -q --std=c11 --library=posix --library=scripts/cppcheck.cfg \
	--enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
	--suppressions-list=scripts/cppcheck-suppress.txt \
	--template='{file}:{line}: {severity} ({id}): {message}' \
	$(filter -D% -I%,$(filter-out -I/%,$(LINT_CFLAGS))) -D__$(shell uname -m)__ \
	-DPROTOBUF_C_VERSION_NUMBER=$(shell $(PKG_CONFIG) --modversion libprotobuf-c 2>/dev/null | \
	    awk -F. '{ printf "%d%03d%03d", $$1, $$2, $$3 }')

lint:
	$(Q)scripts/install-deps.sh --lint
	$(Q)$(MAKE) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(LINT_JOBS)) lint-files

.PHONY: lint-files
lint-files: $(LINT_OK)
	@echo "  PASS  lint ($(words $(LINT_SRC)) files, clang-tidy and cppcheck)"

# The stamp is written only when the tool found nothing; its output is
# shown only when it did (clang-tidy prints "N warnings generated" for
# the checks it was told to ignore).
$(BUILD)/lint/tidy/%.ok: %.c .clang-tidy $(LINT_HDR) $(HOOKS_STAMP) | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  TIDY    $<"
	$(Q)$(CLANG_TIDY) --quiet $(call tidy_off,$<) $< -- $(LINT_CFLAGS) >$@.log 2>&1 || \
	    { grep -v ' warnings\? generated\.$$' $@.log >&2; exit 1; }
	$(Q)touch $@

$(BUILD)/lint/cppcheck/%.ok: %.c scripts/cppcheck-suppress.txt scripts/cppcheck.cfg $(LINT_HDR) \
		$(HOOKS_STAMP) | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CPPCHK  $<"
	$(Q)$(CPPCHECK) $(CPPCHECK_FLAGS) $< >$@.log 2>&1 || { cat $@.log >&2; exit 1; }
	$(Q)touch $@

$(BUILD)/lint/tidy/agent/priv/proc_bpf.ok $(BUILD)/lint/cppcheck/agent/priv/proc_bpf.ok: \
	$(GEN)/proc.skel.h

# clang-tidy checks switched off for one file: TIDY_OFF_<file>, with the
# reason.
comma := ,
empty :=
space := $(empty) $(empty)
tidy_off = $(addprefix --checks=,$(subst $(space),$(comma),$(strip $(TIDY_OFF_$(1)))))
# bpftool's generated skeleton (build/gen/proc.skel.h, included only
# here) frees its object through libbpf on the error path, which the
# analyser cannot see: it reports a leak in code that is not ours.
TIDY_OFF_agent/priv/proc_bpf.c := -clang-analyzer-unix.Malloc

# ---- dependencies ----------------------------------------------------------

# Installs missing Debian packages (quietly does nothing when all are there).
deps:
	$(Q)scripts/install-deps.sh

# ---- tests -----------------------------------------------------------------

unit: $(UNIT_BIN)
	$(Q)scripts/run-unit.sh $(BUILD)/tests

# Three e2e tests at a time (tests/e2e/run.sh: those marked "# vg-serial"
# run alone): most of a test's time is waiting on a collector, an agent or
# a namespace, and two lanes kept the 2 cores a third idle.  E2E_JOBS=1
# runs them one by one.
E2E_JOBS ?= 3
E2E := VG_JOBS=$(E2E_JOBS) tests/e2e/run.sh

e2e: $(PROGS) $(LOADGEN) $(TOOL_BIN)
	$(Q)VG_BUILD=$(BUILD) $(E2E)

# The e2e tests run again with the collectors storing in PostgreSQL
# ([store] url; a throwaway server for the run): every test that runs a
# collector with a store.  Not again: those about the SQLite file itself
# (backup, checkpoint, migrate, retention), those with no
# store (config, pki, completion, docs, man), t_demo (scripts/demo.sh
# makes its own collector), and t_multi, t_migrate_pg and t_pg_text,
# which run on PostgreSQL in the main suite already.
PG_E2E := admission audit audit_checkpoint backpressure cli confd connmem enroll enroll_chain enroll_limits \
          errors failover fdlimit fleet hello_commit history inventory inventory_delta inventory_rpm isolate \
          isolate_iptables isolate_matrix kill9_markers kill9_overflow loadgen metrics operators \
          os_state pending pending_stream pipeline poison privsep proc proc_storm proxy \
          proxy_isolate proxy_protocol reconnect_backoff reconnect_book refuse refuse_flood reload report \
          report_sign report_truth resume retire revoke safe_output scopes siem spool_corrupt \
          spool_diskfull spool_epoch spool_kill9 spool_limit spool_netcut spool_outage \
          spool_undecodable store_thread systemd triage
e2e-pg: $(PROGS) $(LOADGEN) $(TOOL_BIN)
	$(Q)VG_BUILD=$(BUILD) $(E2E) $(addprefix pg:,$(PG_E2E))

# After a parallel build, the unit tests, then the e2e tests on SQLite
# and on PostgreSQL in one run (run.sh's lanes take from both).
E2E_ALL := $(sort $(patsubst tests/e2e/t_%.sh,%,$(wildcard tests/e2e/t_*.sh)))
test: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)scripts/checksrc.sh
	$(Q)$(MAKE) --no-print-directory callcycles
	$(Q)scripts/run-unit.sh $(BUILD)/tests
	$(Q)VG_BUILD=$(BUILD) $(E2E) $(E2E_ALL) $(addprefix pg:,$(PG_E2E))

SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
check: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SAN=1 tests
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan callcycles
	$(Q)$(SAN_ENV) scripts/run-unit.sh build/asan/tests
	$(Q)$(SAN_ENV) VG_BUILD=build/asan $(E2E)

# libFuzzer targets (clang, ASan + UBSan), built into build/fuzz/fuzz/.
# `make fuzz` runs each for FUZZ_SECONDS (default 60), `make fuzz-smoke`
# (CI) for FUZZ_SECONDS (default 5), from the seeds in tests/fuzz/corpus/
# NAME/ and the corpus grown by earlier runs (build/fuzz/corpus/NAME/).
# Both print executions, coverage and corpus size per target and fail on
# any crash, leak, out-of-memory or timeout (inputs kept in
# build/fuzz/crash/NAME/).  FUZZ_TARGETS="fuzz_spool fuzz_dpkg" runs
# some; FUZZ_JOBS=2 runs two at a time.
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_JOBS ?= 1
fuzz-build: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang SAN=1 FUZZ=1 \
	    $(patsubst %,build/fuzz/fuzz/%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60) $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	$(Q)tests/fuzz/run.sh $(or $(FUZZ_SECONDS),5) $(FUZZ_JOBS) $(FUZZ_TARGETS)

checksrc:
	$(Q)scripts/checksrc.sh

# No call cycle between the files of a program (scripts/callcycles.sh,
# from the objects): enforced for the sets in CALLCYCLES, only listed for
# those in CALLCYCLES_REPORT (none now: the agent's went with privilege
# separation).
CALLCYCLES ?= collector vigilctl agent
CALLCYCLES_REPORT ?=
callcycles: $(PROGS)
	$(Q)scripts/callcycles.sh -b $(BUILD) $(CALLCYCLES)
	$(Q)$(if $(strip $(CALLCYCLES_REPORT)),scripts/callcycles.sh -r -b $(BUILD) $(CALLCYCLES_REPORT))

# The patch report as auditors get it: both CSVs load with Python's csv
# module and name their report on every row; the HTML (summary and full
# layouts) shows every host and finding value as the CSV holds it, in the
# file and in Chromium's DOM; in headless Chromium the pages are not
# blank, the summary figures are in the page, the PDF is A4 with the report
# id on every page, and the summary of a generated 200-host fleet prints
# to at most 3 pages; the documents validate against
# docs/report-schema.json.  Installs Chromium on first use.
REPORT_DOC ?= tests/fixtures/report/sample.json
REPORT_OUT := $(BUILD)/report/sample
REPORT_BIG := $(BUILD)/report/fleet200
REPORT_SUMMARY_PAGES := 3
test-html:
	$(Q)scripts/install-deps.sh --html
	$(Q)$(MAKE) --no-print-directory $(BUILD)/tests/render_report
	$(Q)mkdir -p $(dir $(REPORT_OUT))
	$(Q)$(BUILD)/tests/render_report $(REPORT_DOC) $(REPORT_OUT)
	$(Q)/usr/bin/python3 tests/html/check_report.py --csv $(REPORT_OUT).csv --columns 34
	$(Q)/usr/bin/python3 tests/html/check_report.py --csv $(REPORT_OUT)-hosts.csv --columns 21
	$(Q)/usr/bin/python3 tests/html/cross_check.py --findings-csv $(REPORT_OUT).csv \
	    --hosts-csv $(REPORT_OUT)-hosts.csv $(REPORT_OUT).html
	$(Q)/usr/bin/python3 tests/html/cross_check.py --findings-csv $(REPORT_OUT).csv \
	    --hosts-csv $(REPORT_OUT)-hosts.csv --json $(REPORT_DOC) --full $(REPORT_OUT)-full.html
	$(Q)/usr/bin/python3 tests/html/check_report.py --expect-summary $(REPORT_DOC) --headline --stamp \
	    >$(REPORT_OUT).expect
	$(Q)rm -rf $(REPORT_OUT)-full.d
	$(Q)tr '\n' '\0' <$(REPORT_OUT).expect | xargs -0 tests/html/check_html.sh \
	    --max-pages $(REPORT_SUMMARY_PAGES) --every-page "$$(jq -r .header.report_id $(REPORT_DOC))" \
	    $(REPORT_OUT).html "Example NHS Foundation Trust" "Results by rule" "Approved by (SIRO)"
	$(Q)tr '\n' '\0' <$(REPORT_OUT).expect | VG_HTML_KEEP=$(REPORT_OUT)-full.d xargs -0 \
	    tests/html/check_html.sh --every-page "$$(jq -r .header.report_id $(REPORT_DOC))" \
	    $(REPORT_OUT)-full.html "Appendix: every host and its findings" "All exceptions"
	$(Q)/usr/bin/python3 tests/html/cross_check.py --findings-csv $(REPORT_OUT).csv \
	    --hosts-csv $(REPORT_OUT)-hosts.csv --full $(REPORT_OUT)-full.d/dom.out
	$(Q)/usr/bin/python3 tests/html/gen_report.py --hosts 200 $(REPORT_BIG).json
	$(Q)$(BUILD)/tests/render_report $(REPORT_BIG).json $(REPORT_BIG)
	$(Q)/usr/bin/python3 tests/html/check_report.py --expect-summary $(REPORT_BIG).json --headline --stamp \
	    >$(REPORT_BIG).expect
	$(Q)tr '\n' '\0' <$(REPORT_BIG).expect | xargs -0 tests/html/check_html.sh \
	    --max-pages $(REPORT_SUMMARY_PAGES) $(REPORT_BIG).html
	$(Q)/usr/bin/python3 tests/html/check_report.py --json $(REPORT_DOC) --schema docs/report-schema.json --negative
	$(Q)/usr/bin/python3 tests/html/check_report.py --json $(REPORT_BIG).json --schema docs/report-schema.json
	$(Q)$(MAKE) --no-print-directory $(PROGS)
	$(Q)VG_TEST_HTML=1 VG_BUILD=$(BUILD) tests/e2e/run.sh report

demo: deps
	$(Q)$(MAKE) --no-print-directory -j$$(nproc) all
	$(Q)scripts/demo.sh

# Footprint figures (scripts/bench_footprint.sh) compare with auditd and
# dpkg-query: --bench installs auditd (only for this).
BENCH_TOOLS := $(BUILD)/bench/paired
bench:
	$(Q)scripts/install-deps.sh --bench
	$(Q)$(MAKE) --no-print-directory all $(BENCH_BIN) $(BENCH_TOOLS) $(TOOL_BIN)
	$(Q)scripts/bench.sh $(BUILD)

# ---- packages --------------------------------------------------------------

# The packaged programs are built in a directory of their own per version,
# so that VG_VERSION is always the packages' version.
PKGBUILD := build/pkgbuild-$(VERSION)
PKGOUT := build/pkg

pkgbins: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(PKGBUILD) VERSION=$(VERSION) TEST_HOOKS=0 all

deb: pkgbins
	$(Q)scripts/build-deb.sh $(VERSION) $(PKGBUILD) $(PKGOUT)

rpm: pkgbins
	$(Q)scripts/build-rpm.sh $(VERSION) $(PKGBUILD) $(PKGOUT)

test-packages: deps
	$(Q)tests/packages/test-packages.sh

clean:
	rm -rf build demo

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
