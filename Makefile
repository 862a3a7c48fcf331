# StudioVault: `make demo` runs the main job, `make test` passes the tests.
# Both first install the Debian packages they need (only when missing).

SWIFT        ?= swift
BUILD_FLAGS  ?=
DEMO_DIR     ?= demo
VAULT_DEBUG  := .build/debug/vault
VAULT        := .build/release/vault

# Packages every build needs; the benchmarks add the peers they compare against.
DEPS_PKGCONFIG   := libsodium libzstd
DEPS_APT         := libsodium-dev libzstd-dev pkg-config
BENCH_PKGCONFIG  := sqlite3 sqlcipher
BENCH_APT        := libsqlite3-dev libsqlcipher-dev

.PHONY: all deps bench-deps build demo test test-sanitize torture reliability lint format bench bench-report fuzz fuzz-corpus clean

all: build

deps:
	@scripts/install-deps.sh "$(DEPS_PKGCONFIG)" "$(DEPS_APT)"

bench-deps: deps
	@scripts/install-deps.sh "$(BENCH_PKGCONFIG)" "$(BENCH_APT)"

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# The main job: build the CLI in release mode, then `vault demo`: a sample studio,
# what each role sees of it, what is refused, its audit log, and the keyless checks.
# Running it again rebuilds it (DEMO_DIR, ./demo, is the demo's own: it is removed first).
demo: deps
	$(SWIFT) build -c release --product vault
	rm -rf $(DEMO_DIR)
	$(VAULT) demo $(DEMO_DIR)

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

# A studio's work killed with SIGKILL TORTURE_KILLS times (200), reopened and checked
# after each kill; prints the seed (TORTURE_SEED replays a run).
TORTURE_KILLS ?= 200
torture: deps
	$(SWIFT) build -c release --product vault-torture
	.build/release/vault-torture --kills $(TORTURE_KILLS) $(if $(TORTURE_SEED),--seed $(TORTURE_SEED))

# The rest of the reliability campaign: bit rot (RELIABILITY_ROUNDS rounds), the
# concurrency soak (SOAK_SECONDS, built with the thread sanitizer) and the endurance
# run (ENDURANCE_OPERATIONS). Each prints its figures.
RELIABILITY_ROUNDS   ?= 200
SOAK_SECONDS         ?= 180
ENDURANCE_OPERATIONS ?= 1000000
reliability: deps
	$(SWIFT) build -c release --product vault-torture
	.build/release/vault-torture --bit-rot $(RELIABILITY_ROUNDS)
	.build/release/vault-torture --endurance $(ENDURANCE_OPERATIONS)
	$(SWIFT) build --sanitize=thread --product vault-torture --scratch-path .build/tsan
	SWIFT_BACKTRACE=enable=off TSAN_OPTIONS=halt_on_error=1 \
	  .build/tsan/debug/vault-torture --concurrency $(SOAK_SECONDS)

# Every workload, then BENCHMARKS.md, Benchmarks/results.json and Benchmarks/ratios.svg.
bench-report: bench-deps
	cd Benchmarks && $(SWIFT) build -c release
	cd Benchmarks && .build/release/vault-bench --json $(BENCH_ARGS) > results.json.partial
	mv Benchmarks/results.json.partial Benchmarks/results.json
	Benchmarks/.build/release/vault-bench --report Benchmarks/results.json BENCHMARKS.md \
	  Benchmarks/ratios.svg

# libFuzzer targets (Fuzz/), FUZZ_SECONDS each; crashers are kept in Fuzz/FailCases/.
FUZZ_SECONDS ?= 60
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The fuzzers' seeds (Fuzz/Corpus) and dictionaries, remade from Format/vectors.
fuzz-corpus: build
	rm -rf Fuzz/Corpus
	.build/debug/vault-test-helper make-corpus Format/vectors Fuzz/Corpus

# The test suite under the address sanitizer, then under the thread sanitizer (the
# concurrent readers and writers are the point). Each builds apart from the normal build.
# Leak reports are off: Swift's lazily made globals (and Foundation's file reading)
# stay allocated until exit, which LeakSanitizer reports, failing every child process.
test-sanitize: deps
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build/asan
	$(SWIFT) test --sanitize=thread --scratch-path .build/tsan

clean:
	rm -rf .build Benchmarks/.build Fuzz/.build Fuzz/work Fuzz/logs $(DEMO_DIR)
