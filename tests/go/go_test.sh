#!/usr/bin/env bash
# The Go binding (bindings/go) against this build's libuepool.so: gofmt,
# go vet and go test. Its caches live in the build tree (CI has no $HOME
# worth writing to; no network is needed: the module has no dependencies).
#   go_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
command -v go > /dev/null || { echo "go is not installed (tools/setup.sh installs Debian's golang-go)"; exit 1; }
export CGO_CFLAGS="-I$src/engine/include"
export CGO_LDFLAGS="-L$build/engine -Wl,-rpath,$build/engine"
export GOCACHE="$build/go/cache" GOPATH="$build/go/path" GOFLAGS=-mod=mod GO111MODULE=on
cd "$src/bindings/go"
unformatted=$(gofmt -l .)
[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted"; exit 1; }
go vet ./...
go test -count=1 -v ./...
