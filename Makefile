# One place for the project's commands. See README.md.
#
# The library is compiled twice (rusqlite's `loadable_extension` feature cannot share a build
# with the normal one): the `.so` in its own target dir, target/ext, so neither build
# invalidates the other; it is then copied where the README says it is.

CARGO   ?= cargo
SO      := target/release/libkanban_workers.so
EXT_DIR := target/ext

# Tests marked #[ignore = "needs root"] run when the tests run as root (as CI does); otherwise
# cargo reports them as ignored.
# The browser test is ignored too: run where chromium exists, skipped (not run) where not.
# The Prometheus tests need Debian's prometheus package (promtool, prometheus): skipped, and
# said so, where it is not installed (a fresh machine; .ci/run installs it).
# The Hermes dashboard test needs hermes-agent 0.19.0 from PyPI, installed once into
# target/hermes-venv by `make test` (~30 s) with the python3 on PATH and reused; where it
# cannot be installed (no PyPI) the test is skipped, and said so. It needs chromium too.
HERMES_VENV   := target/hermes-venv
HERMES_PYTHON ?= python3
HAVE_PROMTOOL := $(shell command -v promtool 2>/dev/null)
HAVE_PROMETHEUS := $(shell command -v prometheus 2>/dev/null)
TEST_ARGS := $(if $(filter 0,$(shell id -u)),--include-ignored,) \
	$(if $(wildcard /usr/bin/chromium),,--skip the_live_page --skip the_workers_tab) \
	$(if $(HAVE_PROMTOOL),,--skip metrics_are_valid_exposition) \
	$(if $(HAVE_PROMETHEUS),,--skip a_real_prometheus_scrapes)

.PHONY: ext release test demo lint fmt-check clean hermes-venv

ext:
	$(CARGO) build --release --example kanban_workers --no-default-features \
		--features loadable_extension --target-dir $(EXT_DIR)
	mkdir -p target/release
	cp $(EXT_DIR)/release/examples/libkanban_workers.so $(SO)

release: ext
	$(CARGO) build --release

# hermes-agent 0.19.0 for the dashboard test; never fails the build (the test is skipped).
hermes-venv:
	@test -f $(HERMES_VENV)/.installed || { \
	  echo "installing hermes-agent 0.19.0 from PyPI into $(HERMES_VENV) (once, ~30 s)"; \
	  rm -rf $(HERMES_VENV); \
	  { $(HERMES_PYTHON) -m venv $(HERMES_VENV) && \
	    $(HERMES_VENV)/bin/pip install -q --retries 1 --timeout 20 hermes-agent==0.19.0 && \
	    touch $(HERMES_VENV)/.installed; } || \
	  { rm -rf $(HERMES_VENV); echo "cannot install hermes-agent 0.19.0 (no PyPI?)"; }; }

# Builds the .so first, so the tests never load a stale one.
test: ext hermes-venv
	$(if $(wildcard /usr/bin/chromium),,@echo "chromium not found: the browser tests (the live page, the Workers tab) are skipped")
	@test -f $(HERMES_VENV)/.installed || echo "hermes-agent 0.19.0 not installed: the Hermes dashboard test (the_workers_tab_in_the_real_hermes_dashboard) is skipped"
	$(if $(HAVE_PROMTOOL),,@echo "promtool not found (Debian's prometheus): the exposition test is skipped")
	$(if $(HAVE_PROMETHEUS),,@echo "prometheus not found (Debian's prometheus): the scrape test is skipped")
	KANBAN_WORKERS_SO=$(CURDIR)/$(SO) $(CARGO) test -- $(TEST_ARGS) \
		$$(test -f $(HERMES_VENV)/.installed || echo --skip the_workers_tab)

# A throwaway board with real workers, queried through the sqlite3 shell.
demo: ext
	examples/demo_board.sh

# Both builds of the library: the normal one (shim, tests, benches) and the loadable .so's.
lint:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --release --example kanban_workers --no-default-features \
		--features loadable_extension --target-dir $(EXT_DIR) -- -D warnings

fmt-check:
	$(CARGO) fmt --check

clean:
	$(CARGO) clean
