#!/bin/sh
# Builds the libFuzzer targets of Fuzz/ (with AddressSanitizer when it links) and runs
# each for SECONDS (default 60): `scripts/fuzz.sh [SECONDS] [TARGET...]`, TARGET being
# e.g. Page for Fuzz/Sources/FuzzPage. Seeds come from Fuzz/Corpus/TARGET (read only);
# what the fuzzer learns goes to Fuzz/work/TARGET; a crashing input is kept in
# Fuzz/FailCases/TARGET/ (commit it with the fix: `make test` replays it). Prints, per
# target, the executions, executions per second and coverage reached, and exits
# non-zero if any target crashed.
set -u
seconds="${1:-60}"
[ $# -gt 0 ] && shift
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/Fuzz" || exit 1
# One -sanitize= list: given twice (`--sanitize fuzzer --sanitize address`), the
# driver keeps only the last, and the code is built without coverage instrumentation:
# libFuzzer then runs blind. The objects are checked for it below.
if ! swift build -c release --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address \
  -Xswiftc -parse-as-library; then
  echo "fuzz: building with the address sanitizer failed; building without it" >&2
  swift build -c release --sanitize fuzzer -Xswiftc -parse-as-library || exit 1
fi
objects=".build/release/VaultFormat.build"
[ -d "$objects" ] || objects="$(dirname "$(readlink -f .build/release)")/release/VaultFormat.build"
if ! readelf -S "$objects/ByteReader.swift.o" | grep -q sancov; then
  echo "fuzz: the code is not instrumented for coverage; refusing to fuzz blind" >&2
  exit 1
fi
targets="$*"
[ -n "$targets" ] || targets="$(ls Sources | sed 's/^Fuzz//')"
export SWIFT_BACKTRACE=enable=off
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
mkdir -p logs
failed=0
for target in $targets; do
  case "$target" in
    VaultFile) max_len=300000 ;;
    Page|FileHeader|MetaPage) max_len=70000 ;;
    *) max_len=16384 ;;
  esac
  mkdir -p "work/$target" "FailCases/$target"
  # Leak checking is off: Swift's lazily made globals live until exit, and LeakSanitizer
  # takes them for leaks. A leak per input shows as growth past -rss_limit_mb instead.
  log="logs/$target.log"
  ".build/release/Fuzz$target" "work/$target" "Corpus/$target" \
    -dict="Corpus/$target.dict" -max_total_time="$seconds" -max_len="$max_len" \
    -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 -detect_leaks=0 \
    -artifact_prefix="FailCases/$target/" > "$log" 2>&1
  status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  line="$target: ${seconds}s, ${execs:-?} execs, ${rate:-?} execs/s, cov ${cov:-?}, ft ${features:-?}"
  if [ "$status" -ne 0 ]; then
    failed=1
    line="$line: CRASHED (exit $status, input in Fuzz/FailCases/$target/, log $log)"
  fi
  echo "$line" | tee -a logs/summary.txt
done
exit $failed
