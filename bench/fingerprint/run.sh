#!/bin/sh
# Document fingerprint and exact-data-match benchmark: prints the tables of docs/benchmarks.md.
# Needs Debian's manpages-ja (apt-get install -y manpages-ja) and python3; downloads nothing.
set -eu
cd "$(dirname "$0")/../.."
corpus="${CORPUS:-/tmp/mamori-fp-corpus}"
python3 bench/fingerprint/prepare_corpus.py "$corpus"
cargo build --release -p mamori-fingerprint --example fingerprint_bench
bench="${CARGO_TARGET_DIR:-target}/release/examples/fingerprint_bench"
echo "## detection (quality)"; "$bench" quality "$corpus"
echo; echo "## scale"; "$bench" scale
echo; echo "## exact data match"; "$bench" edm "$corpus"
