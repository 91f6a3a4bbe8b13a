#!/usr/bin/env bash
# Runs the whole test suite: every crate, every feature, in debug and in release.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features
cargo test --workspace --all-features --release
