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
HAVE_PROMTOOL := $(shell command -v promtool 2>/dev/null)
HAVE_PROMETHEUS := $(shell command -v prometheus 2>/dev/null)
TEST_ARGS := $(if $(filter 0,$(shell id -u)),--include-ignored,) \
	$(if $(wildcard /usr/bin/chromium),,--skip the_live_page) \
	$(if $(HAVE_PROMTOOL),,--skip metrics_are_valid_exposition) \
	$(if $(HAVE_PROMETHEUS),,--skip a_real_prometheus_scrapes)

.PHONY: ext release test demo lint fmt-check clean

ext:
	$(CARGO) build --release --example kanban_workers --no-default-features \
		--features loadable_extension --target-dir $(EXT_DIR)
	mkdir -p target/release
	cp $(EXT_DIR)/release/examples/libkanban_workers.so $(SO)

release: ext
	$(CARGO) build --release

# Builds the .so first, so the tests never load a stale one.
test: ext
	$(if $(wildcard /usr/bin/chromium),,@echo "chromium not found: the browser test is skipped")
	$(if $(HAVE_PROMTOOL),,@echo "promtool not found (Debian's prometheus): the exposition test is skipped")
	$(if $(HAVE_PROMETHEUS),,@echo "prometheus not found (Debian's prometheus): the scrape test is skipped")
	KANBAN_WORKERS_SO=$(CURDIR)/$(SO) $(CARGO) test -- $(TEST_ARGS)

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
