#!/usr/bin/env bash
# Builds and runs strato's fuzz targets. See fuzz/README.md.
#
#   fuzz/fuzz.sh build               build every Rust target (libFuzzer, sanitizer coverage)
#   fuzz/fuzz.sh build-py            build the native extension with sanitizer coverage and
#                                    stage it with the Python sources in fuzz/target/py
#   fuzz/fuzz.sh seeds               extract the seed corpora from ../shared into fuzz/seeds/
#   fuzz/fuzz.sh run TARGET [ARGS]   run a Rust target on its corpus (libFuzzer ARGS)
#   fuzz/fuzz.sh py TARGET [ARGS]    run an atheris target (py_json, py_jws, py_dagcbor_diff)
#   fuzz/fuzz.sh smoke [SECONDS]     build everything, extract seeds, run each target SECONDS
#                                    (10) and fail on any crash, hang or RSS over 2 GB
#   fuzz/fuzz.sh smoke-ci [SECONDS]  the same, but the Python targets run against the regular
#                                    extension of python/strato (CI's budget has no room for
#                                    the instrumented build); `make fuzz-smoke`
#   fuzz/fuzz.sh list                the targets
#
# Stable rustc instruments with the flags in $SANCOV (cargo-fuzz's, without its nightly-only
# sanitizer flags); `--target` keeps them off build scripts and proc macros.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
shared="${STRATO_SHARED:-$(dirname "$root")/shared}"
python="${PYTHON:-$root/.venv/bin/python}"
host="$(rustc -vV | sed -n 's/^host: //p')"
out="${FUZZ_TARGET_DIR:-$here/target}"
rust_targets=(dagcbor car_read car_stream firehose_frame ws_frame cid_multibase mst_node commit)
py_targets=(py_json py_jws py_dagcbor_diff)
SANCOV="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"

build() {
    RUSTFLAGS="$SANCOV -Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions \
-Coverflow-checks" CARGO_TARGET_DIR="$out/rust" \
        cargo build --quiet --release --locked --manifest-path "$here/Cargo.toml" \
        --target "$host" --bins
}

# The release profile without fat LTO, which would only slow the build down.
build_py() {
    RUSTFLAGS="$SANCOV -Cdebug-assertions" CARGO_TARGET_DIR="$out/python" \
        CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        "$(dirname "$python")/maturin" build --quiet --release --target "$host" \
        --manifest-path "$root/Cargo.toml" --out "$out/python/wheel"
    rm -rf "$out/py" && mkdir -p "$out/py"
    cp -r "$root/python/strato" "$out/py/"
    "$python" - "$out" <<'PY'
import pathlib, sys, zipfile
out = pathlib.Path(sys.argv[1])
wheel = max((out / "python/wheel").glob("strato-*.whl"), key=lambda p: p.stat().st_mtime)
with zipfile.ZipFile(wheel) as archive:
    (out / "py/strato/_core.abi3.so").write_bytes(archive.read("strato/_core.abi3.so"))
PY
}

seeds() {
    PYTHONPATH="$root/python" "$python" "$here/seeds.py" --shared "$shared" --out "$here/seeds"
}

# The longest input worth generating for each target: enough for its seeds, no more (longer
# inputs only slow a run down).
max_len() {
    case "$1" in
        cid_multibase) echo 1024 ;;
        commit | py_jws) echo 2048 ;;
        dagcbor | ws_frame | py_dagcbor_diff) echo 4096 ;;
        mst_node | py_json) echo 8192 ;;
        *) echo 32768 ;;
    esac
}

# run TARGET [libFuzzer args]: new inputs go to fuzz/corpus/TARGET, the seeds are read-only.
run() {
    local target="$1"
    shift
    mkdir -p "$here/corpus/$target" "$here/artifacts/$target"
    "$out/rust/$host/release/$target" -artifact_prefix="$here/artifacts/$target/" \
        -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" -print_final_stats=1 \
        "$@" "$here/corpus/$target" "$here/seeds/$target"
}

# py TARGET [libFuzzer args]: atheris's libFuzzer is preloaded so that the instrumented
# extension's coverage symbols resolve to it when Python loads the extension. With
# FUZZ_PY_NATIVE=regular, the package in python/ (and its regular extension) is used instead.
py() {
    local target="$1"
    shift
    local libfuzzer package="$out/py"
    libfuzzer="$("$python" -c 'import atheris, glob, os
print(glob.glob(os.path.join(os.path.dirname(atheris.__file__), "core_with_libfuzzer*.so"))[0])')"
    if [ "${FUZZ_PY_NATIVE:-instrumented}" = regular ]; then
        package="$root/python"
    fi
    mkdir -p "$here/corpus/$target" "$here/artifacts/$target"
    PYTHONPATH="$package" LD_PRELOAD="$libfuzzer" "$python" "$here/py/$target.py" \
        -artifact_prefix="$here/artifacts/$target/" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$target")" -print_final_stats=1 "$@" \
        "$here/corpus/$target" "$here/seeds/$target"
}

# smoke_one KIND TARGET SECONDS: a short run; prints its status line and final stats.
smoke_one() {
    local status=0
    echo "-- $2 (${3} s)"
    "$1" "$2" -max_total_time="$3" > "$out/smoke-$2.log" 2>&1 || status=$?
    grep -E '^(INFO: (Loaded [0-9]+ modules|strato)|#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' \
        "$out/smoke-$2.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$out/smoke-$2.log"
        echo "fuzz target $2 failed (exit $status); the input is in fuzz/artifacts/$2/"
        return 1
    fi
}

# smoke_all SECONDS KIND:TARGET...: the short runs two at a time (one per core), each one's
# output shown whole once it ends; fails if any run failed.
smoke_all() {
    local seconds="$1" status=0 pids=() specs=() spec pid i
    shift
    for spec in "$@" ""; do
        if [ -n "$spec" ]; then
            smoke_one "${spec%%:*}" "${spec#*:}" "$seconds" > "$out/smoke-${spec#*:}.summary" &
            pids+=("$!")
            specs+=("$spec")
        fi
        if [ "${#pids[@]}" -eq 2 ] || { [ -z "$spec" ] && [ "${#pids[@]}" -gt 0 ]; }; then
            for i in "${!pids[@]}"; do
                wait "${pids[$i]}" || status=1
                cat "$out/smoke-${specs[$i]#*:}.summary"
            done
            pids=()
            specs=()
        fi
    done
    return "$status"
}

case "${1:-}" in
    build) build ;;
    build-py) build_py ;;
    seeds) seeds ;;
    run) shift; run "$@" ;;
    py) shift; py "$@" ;;
    list) printf '%s\n' "${rust_targets[@]}" "${py_targets[@]}" ;;
    smoke | smoke-ci)
        seconds="${2:-10}"
        build
        if [ "$1" = smoke ]; then
            build_py
        else
            export FUZZ_PY_NATIVE=regular
        fi
        seeds
        smoke_all "$seconds" "${rust_targets[@]/#/run:}" "${py_targets[@]/#/py:}"
        ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
