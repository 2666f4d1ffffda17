#!/usr/bin/env bash
# Bounded fuzzing, as CI runs it (.ci/run): installs cargo-fuzz into .ci/tools when missing,
# builds every target, then runs each for FUZZ_SECONDS (default 15) starting from the
# committed corpus. Fails on the first crash (a panic is a finding) and prints the input.
#
#   fuzz/ci.sh                      # all targets
#   FUZZ_SECONDS=300 fuzz/ci.sh theme
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-15}"
tools="$PWD/.ci/tools"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz into $tools"
  cargo install cargo-fuzz --version 0.13.2 --locked --root "$tools" --quiet
fi
export PATH="$tools/bin:$PATH"
# cargo-fuzz passes nightly-only rustc flags (sanitizer coverage); the CI toolchain is stable.
export RUSTC_BOOTSTRAP=1

# No sanitizer: the code under test is safe Rust (`unsafe_code = "forbid"`), so ASan adds
# build and run time without finding anything a panic would not; panics abort and libFuzzer
# reports them as crashes.
build_flags=(--sanitizer none)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

started=$SECONDS
(cd fuzz && cargo fuzz build "${build_flags[@]}")
echo "fuzz: built every target in $((SECONDS - started)) s"

for target in "${targets[@]}"; do
  # New inputs go to a scratch corpus (gitignored); the committed one is only read.
  work="fuzz/corpus-work/$target"
  mkdir -p "$work" "fuzz/corpus/$target"
  log="$(mktemp)"
  if (cd fuzz && cargo fuzz run "${build_flags[@]}" "$target" "corpus-work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
    summary="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')"
    echo "fuzz: $target ok (${summary:-?} runs in ${seconds} s)"
    rm -f "$log"
  else
    echo "fuzz: $target FAILED; the crashing input is in fuzz/artifacts/$target/" >&2
    grep -a -E -A12 "panicked|ERROR: libFuzzer|SUMMARY" "$log" | head -60 >&2 || tail -60 "$log" >&2
    echo "reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $target artifacts/$target/<file>)" >&2
    rm -f "$log"
    exit 1
  fi
done
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s each without a crash ($((SECONDS - started)) s in all)"
