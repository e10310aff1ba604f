#!/bin/sh
# Builds a private copy of dist/ for long runs (fuzzers, soak, crash loops), so that a rebuild of dist/
# by someone else while they run cannot change the code under test half-way. Prints the directory.
# It lives under node_modules/ so that the compiled files still resolve the project's dependencies.
set -e
cd "$(dirname "$0")/.."
dir=node_modules/.cache/tsiscsi-snap/${1:-run}
rm -rf "$dir"
mkdir -p "$dir"
# tsc reports type errors of work in progress elsewhere but still emits: check the files we run exist.
# soak/tsconfig.json compiles src, bin, fuzz and soak (everything a long run needs).
npx tsc -p soak/tsconfig.json --outDir "$dir" >"$dir.tsc.log" 2>&1 || true
mkdir -p "$dir/test" && ln -s "$(pwd)/test/fixtures" "$dir/test/fixtures"
test -f "$dir/bin/cli/main.js" && test -f "$dir/fuzz/target-fuzz.js"
echo "$(pwd)/$dir"
