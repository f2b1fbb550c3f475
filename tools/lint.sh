#!/usr/bin/env bash
# tools/lint.sh — the style habits, enforced: clang-format (every tracked C++
# file must already be formatted) and clang-tidy (.clang-tidy's checks on the
# library and the command line, every finding an error).
#
#   tools/lint.sh [BUILD_DIR]     (default build/release: its compile_commands.json)
#
# Exit status 1 on any finding, with the findings printed. tools/test.sh runs
# it after the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.h')
echo "--- clang-format: ${#sources[@]} files ---"
if ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "clang-format: files above are not formatted (run: clang-format -i FILE)" >&2
  exit 1
fi
[[ -f $build/compile_commands.json ]] || { echo "no $build/compile_commands.json: build first" >&2; exit 2; }
mapfile -t tidy < <(git ls-files 'engine/src/*.cpp' 'tools/*.cpp')
echo "--- clang-tidy: ${#tidy[@]} files (headers under engine/include through HeaderFilterRegex) ---"
out=$(mktemp)
printf '%s\n' "${tidy[@]}" | xargs -P "$(nproc)" -n 1 clang-tidy -p "$build" --quiet --warnings-as-errors='*' \
  >"$out" 2>&1 || status=$?
if [[ ${status:-0} -ne 0 ]]; then
  grep -E 'error:|warning:' -A3 "$out" | grep -v '^--$' | head -n 80
  rm -f "$out"
  echo "clang-tidy: findings above" >&2
  exit 1
fi
rm -f "$out"
echo "--- lint clean ---"
