#!/usr/bin/env bash
# Packaging: `cmake --install` of the build tree into a scratch prefix, then
# the example SMF (tools/examples/smf.c) built against what was installed,
# once through find_package(uepool) and once through pkg-config, and run.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d /tmp/uepool-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
for f in include/uepool/uepool.h lib/libuepool.so lib/cmake/uepool/uepool-config.cmake lib/pkgconfig/uepool.pc bin/uepool; do
  [ -e "$tmp/prefix/$f" ] || { echo "not installed: $f"; cat "$tmp/install.log"; exit 1; }
done
# uepool bench runs the installed suite through the installed report script.
if [ -e "$tmp/prefix/bin/uepool-bench" ]; then
  "$tmp/prefix/bin/uepool" bench --dry-run | grep -q "share/uepool/compare .*--bench $tmp/prefix/bin/uepool-bench" || {
    echo "uepool bench does not use the installed files:"; "$tmp/prefix/bin/uepool" bench --dry-run; exit 1; }
fi
# Only the C API is exported from the library.
if nm -D --defined-only "$tmp/prefix/lib/libuepool.so" | awk '{print $3}' | grep -v '^uepool_' | grep -v '^UEPOOL_1$' | grep -q .; then
  echo "libuepool.so exports more than uepool_*:"; nm -D --defined-only "$tmp/prefix/lib/libuepool.so" | grep -v ' uepool_' | head
  exit 1
fi
cmake -S "$src/tests/install" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DUEPOOL_EXAMPLE="$src/tools/examples/smf.c" > "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/consumer" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
"$tmp/consumer/smf" 60
# pkg-config (what cgo uses): cc, the flags it gives, and the library path at run time.
flags=$(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs uepool)
# shellcheck disable=SC2086
cc -std=c99 -Wall -Wextra -Werror -pedantic -o "$tmp/smf-pc" "$src/tools/examples/smf.c" $flags
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/smf-pc" 30
echo "installed tree: ok"
