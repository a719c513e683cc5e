# One place for the project's commands. See README.md.
#
# The library is compiled twice (rusqlite's `loadable_extension` feature cannot share a build
# with the normal one): the `.so` in its own target dir, target/ext, so neither build
# invalidates the other; it is then copied where the README says it is.

CARGO   ?= cargo
SO      := target/release/libkanban_workers.so
EXT_DIR := target/ext

# Tests marked #[ignore = "needs root"] run when the tests run as root (as CI does); otherwise
# cargo reports them as ignored. Tests that need a program a fresh machine lacks (promtool,
# prometheus, chromium) are skipped, and said so, where it is missing: `.ci/deps` holds the one
# list, which `.ci/run` also installs from.
TEST_ARGS := $(if $(filter 0,$(shell id -u)),--include-ignored,) $(shell .ci/deps skips)

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
	@.ci/deps report
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
