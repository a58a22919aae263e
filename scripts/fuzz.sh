#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in build-fuzz/ and runs each
# for a bounded time. Fails when any target finds a crash, a leak, a timeout or runs out of memory;
# the input that did it is left in build-fuzz/crash-<target>-*.
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]     default: 60 s each for csv npy idx json image_header
#                                                       safetensors torch_pickle
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh). Inputs that grow coverage are kept
# in build-fuzz/corpus-<target>/ and reused by the next run; the seeds live in tests/fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv npy idx json image_header safetensors torch_pickle)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -DLABELPROP_FUZZ=ON -DLABELPROP_BUILD_GUI=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

failed=()
for t in "${targets[@]}"; do
    corpus=build-fuzz/corpus-$t
    log=build-fuzz/fuzz-$t.log
    mkdir -p "$corpus"
    rc=0
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "build-fuzz/bin/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 -artifact_prefix="build-fuzz/crash-$t-" \
        "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    secs=$(sed -n 's/^stat::total_duration_seconds\{0,1\}: *//p;s/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    printf '%s\t%s s\t%s execs\t%s corpus files\trc %s\n' "$t" "${secs:-?}" "${execs:-?}" \
        "$(find "$corpus" -type f | wc -l)" "$rc" | tee -a build-fuzz/fuzz-history.tsv
    if [ "$rc" -ne 0 ]; then
        failed+=("$t")
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*Test unit written)' "$log" | head -20 || true
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]} (logs: build-fuzz/fuzz-<target>.log)" >&2
    exit 1
fi
echo "fuzz: no findings in ${targets[*]} (${seconds} s each)"
