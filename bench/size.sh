#!/bin/sh
# Binary and zip sizes of the two Lambdas.
#   bench/size.sh            arm64 with cargo-lambda (zig linker), then the x86_64 release binaries
#   bench/size.sh --x86-only only the x86_64 release binaries
#   SYMBOLS=1 bench/size.sh  the arm64 build keeps its symbols (CARGO_PROFILE_RELEASE_STRIP=false)
#                            for bench/symbols.py; sizes are then those of `llvm-strip --strip-all`
#                            copies, zipped here (what `strip = true` gives, within a few KB)
# cargo lambda honours the release profile in Cargo.toml (lto, opt-level "z", strip, panic=abort).
set -eu
cd "$(dirname "$0")/.."
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB (%d bytes)", b / 1048576, b }'; }
size() { stat -c %s "$1"; }
zipped() { # the Lambda zip: one file named bootstrap, deflated (zip's default level)
    tmp=$(mktemp -d); cp "$1" "$tmp/bootstrap"; (cd "$tmp" && zip -q bootstrap.zip bootstrap); size "$tmp/bootstrap.zip"; rm -rf "$tmp"
}
if [ "${1:-}" != "--x86-only" ]; then
    if [ "${SYMBOLS:-}" = 1 ]; then
        CARGO_PROFILE_RELEASE_STRIP=false cargo lambda build --release --arm64 --bin gate-start --bin gate-report
        for f in gate-start gate-report; do
            d=target/lambda/$f
            cp "$d/bootstrap" "$d/bootstrap.symbols"
            llvm-strip --strip-all -o "$d/bootstrap.stripped" "$d/bootstrap"
            b=$d/bootstrap.stripped
            echo "arm64  $f: bootstrap $(mib "$(size "$b")"), zip $(mib "$(zipped "$b")")  [$(file -b "$b" | cut -d, -f1-2); llvm-strip --strip-all]"
        done
    else
        cargo lambda build --release --arm64 --bin gate-start --bin gate-report --output-format zip
        for f in gate-start gate-report; do
            z=target/lambda/$f/bootstrap.zip
            unzip -o -q "$z" -d "target/lambda/$f/unzipped"
            b=target/lambda/$f/unzipped/bootstrap
            echo "arm64  $f: bootstrap $(mib "$(size "$b")"), zip $(mib "$(size "$z")")  [$(file -b "$b" | cut -d, -f1-2)]"
        done
    fi
fi
# `cargo bench` rebuilds target/release/<bin> with the dev-dependencies' features (test-util):
# rebuild the production binaries first (a no-op when they are current).
cargo build --release --bin gate-start --bin gate-report
for f in gate-start gate-report; do
    b=target/release/$f
    echo "x86_64 $f: binary $(mib "$(size "$b")"), zip $(mib "$(zipped "$b")")  [$(file -b "$b" | cut -d, -f1-2)]"
done
