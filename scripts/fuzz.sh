#!/bin/sh
# Builds the libFuzzer targets of Fuzz/ (with AddressSanitizer) and runs each for
# SECONDS (default 60), the file fuzzer seeded with Format/vectors. A crash writes
# the input to fuzz-artifacts/ and exits non-zero.
set -eu
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/Fuzz"
swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -parse-as-library
mkdir -p "$root/fuzz-artifacts" "$root/fuzz-corpus/audit" "$root/fuzz-corpus/file"
cp "$root"/Format/vectors/*.vault "$root/fuzz-corpus/file/"
export SWIFT_BACKTRACE=enable=off
.build/release/fuzz-audit-decoding "$root/fuzz-corpus/audit" \
  -max_total_time="$seconds" -artifact_prefix="$root/fuzz-artifacts/"
.build/release/fuzz-vault-file "$root/fuzz-corpus/file" \
  -max_total_time="$seconds" -max_len=300000 -artifact_prefix="$root/fuzz-artifacts/"
