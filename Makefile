# StudioVault: `make demo` runs the main job, `make test` passes the tests.
# Both first install the Debian packages they need (only when missing).

SWIFT        ?= swift
BUILD_FLAGS  ?=
DEMO_DIR     ?= demo
DEMO_PASSPHRASE ?= correct horse battery staple
VAULT_DEBUG  := .build/debug/vault
VAULT        := .build/release/vault

# Packages every build needs; the benchmarks add the peers they compare against.
DEPS_PKGCONFIG   := libsodium libzstd
DEPS_APT         := libsodium-dev libzstd-dev pkg-config
BENCH_PKGCONFIG  := sqlite3 sqlcipher
BENCH_APT        := libsqlite3-dev libsqlcipher-dev

.PHONY: all deps bench-deps build demo test lint format bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh "$(DEPS_PKGCONFIG)" "$(DEPS_APT)"

bench-deps: deps
	@scripts/install-deps.sh "$(BENCH_PKGCONFIG)" "$(BENCH_APT)"

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# The main job: build the CLI in release mode, create a vault with its owner and two
# branches, import clients, search them, inspect the file, keep a signed checkpoint of
# its audit log, rotate keys, then verify the log still extends that checkpoint.
DEMO_PASSWORD ?= demo owner password
DEMO_ENV     := VAULT_PASSPHRASE='$(DEMO_PASSPHRASE)' VAULT_PASSWORD='$(DEMO_PASSWORD)'
DEMO_VAULT   := $(DEMO_DIR)/studio.vault
demo: deps
	$(SWIFT) build -c release --product vault
	rm -rf $(DEMO_DIR)
	mkdir -p $(DEMO_DIR)
	@echo "demo secrets (given through the environment, never as arguments):"
	@echo "  VAULT_PASSPHRASE='$(DEMO_PASSPHRASE)' VAULT_PASSWORD='$(DEMO_PASSWORD)'"
	$(DEMO_ENV) $(VAULT) init $(DEMO_VAULT) --owner owner --currency USD
	$(DEMO_ENV) $(VAULT) branch add $(DEMO_VAULT) --user owner Downtown
	$(DEMO_ENV) $(VAULT) branch add $(DEMO_VAULT) --user owner Harbor
	$(DEMO_ENV) $(VAULT) import $(DEMO_VAULT) --user owner --collection clients scripts/demo/clients.jsonl
	$(DEMO_ENV) $(VAULT) list $(DEMO_VAULT) --user owner --collection clients
	$(DEMO_ENV) $(VAULT) list $(DEMO_VAULT) --user owner --collection clients --search zoe
	$(DEMO_ENV) $(VAULT) list $(DEMO_VAULT) --user owner --collection clients --search zoe --branch Harbor --json
	$(DEMO_ENV) $(VAULT) settings show $(DEMO_VAULT) --user owner
	$(VAULT) info $(DEMO_VAULT)
	$(VAULT) check $(DEMO_VAULT)
	$(VAULT) audit checkpoint $(DEMO_VAULT) > $(DEMO_DIR)/checkpoint.txt
	cat $(DEMO_DIR)/checkpoint.txt
	$(DEMO_ENV) $(VAULT) key rotate $(DEMO_VAULT) --user owner
	$(DEMO_ENV) VAULT_NEW_PASSPHRASE='$(DEMO_PASSPHRASE), changed' \
	  $(VAULT) key passphrase $(DEMO_VAULT) --user owner
	VAULT_PASSPHRASE='$(DEMO_PASSPHRASE), changed' VAULT_PASSWORD='$(DEMO_PASSWORD)' \
	  $(VAULT) audit list $(DEMO_VAULT) --user owner
	$(VAULT) audit verify $(DEMO_VAULT) --checkpoint $(DEMO_DIR)/checkpoint.txt
	$(VAULT) check $(DEMO_VAULT)

# The benchmark harness runs too, small and without its peers (--quick), so that it
# cannot rot; it links SQLite, whose headers it installs.
test: deps
	$(SWIFT) build $(BUILD_FLAGS)
	$(SWIFT) test $(BUILD_FLAGS)
	$(SWIFT) format lint --strict --recursive Sources Tests
	@scripts/install-deps.sh "sqlite3" "libsqlite3-dev"
	cd Benchmarks && $(SWIFT) build && .build/debug/vault-bench --quick

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests

format:
	$(SWIFT) format --in-place --recursive Sources Tests Benchmarks/Sources

# Side by side with SQLite; prints the ratios.
bench: bench-deps
	cd Benchmarks && $(SWIFT) build -c release
	cd Benchmarks && .build/release/vault-bench $(BENCH_ARGS)

# libFuzzer targets (Fuzz/) for the parsers of untrusted bytes, 60 s each.
fuzz: deps
	scripts/fuzz.sh 60

clean:
	rm -rf .build Benchmarks/.build Fuzz/.build $(DEMO_DIR)
