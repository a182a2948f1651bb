#!/bin/sh
# The Go binding's ctest tests (bindings/go/CMakeLists.txt), one tier per call:
#   vet      go vet ./... and gofmt -l (must list nothing)          label unit
#   unit     the package's TestUnit* tests (no KVM)                  label unit
#   layout   TestLayout*: cgo's view of the C structs against layout/layout.c (KVMHOST_GO_LAYOUT_TOOL)
#   kvm      TestKVM*: tiny guests as Go bytes                      label kvm
#   example  builds and runs examples/hello                         label kvm
#   lab      builds WORKDIR/kvmhost-go-static.test: the test binary linked statically (L1 has no C library) against
#            the static library (PKG_CONFIG_PATH: the build tree's pkgconfig-static/kvmhost.pc); the lab's case
#            bindings/go_kvm runs its TestKVM* tests (tests/lab/l1/bindings-go.sh)
# The tests are built with `go test -c` and the binary run directly, so its exit status is ctest's: a kvm-tier
# binary without a usable /dev/kvm prints one "SKIP: " line and exits 77. Offline and self-contained: no module
# is fetched (GOPROXY=off, no dependencies), the toolchain is the installed one (GOTOOLCHAIN=local), and the
# build cache lives in WORKDIR (a build tree), so it works as root in CI and on a clean clone.
# Usage: run.sh TIER WORKDIR [GO]   (GO: the go command, default go; PKG_CONFIG_PATH: where the kvmhost.pc to
# build with is, ctest sets it to the build tree's)
set -eu
tier=${1:?usage: run.sh vet|unit|layout|kvm|example|lab WORKDIR}
work=${2:?usage: run.sh TIER WORKDIR}
src=$(cd "$(dirname "$0")/.." && pwd)
go=${3:-go}
command -v "$go" >/dev/null 2>&1 || { echo "SKIP: $go: no Go toolchain (Debian: golang-go)"; exit 77; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
export GOCACHE="$work/gocache" GOPATH="$work/gopath" GOENV=off GOFLAGS='' GOPROXY=off GOTOOLCHAIN=local \
	GO111MODULE=on GOWORK=off CGO_ENABLED=1
cd "$src"
case $tier in
vet)
	"$go" vet ./...
	unformatted=$("$("$go" env GOROOT)/bin/gofmt" -l .)
	if [ -n "$unformatted" ]; then
		echo "gofmt -l lists files that need gofmt -w:" >&2
		echo "$unformatted" >&2
		exit 1
	fi
	echo "go vet and gofmt: clean"
	;;
unit | layout | kvm)
	bin="$work/kvmhost-$tier.test"
	"$go" test -c -o "$bin" .
	case $tier in
	unit) run='^TestUnit' ;;
	layout) run='^TestLayout' ;;
	kvm) run='^TestKVM' ;;
	esac
	exec "$bin" -test.v -test.run "$run" -kvmhost.tier="$tier"
	;;
lab)
	# -linkmode external: cgo's objects and the C libraries are linked by $CC, which -static makes static. -s -w:
	# no symbol table and no DWARF (a third smaller; a panic's stack trace comes from the pcln table, which stays).
	"$go" test -c -o "$work/kvmhost-go-static.test.tmp" -ldflags '-s -w -linkmode external -extldflags "-static"' .
	mv "$work/kvmhost-go-static.test.tmp" "$work/kvmhost-go-static.test"
	;;
example)
	"$go" test -c -o "$work/kvmhost-probe.test" .
	"$work/kvmhost-probe.test" -test.run '^$' -kvmhost.tier=kvm >"$work/probe.out" || {
		rc=$?
		cat "$work/probe.out"
		exit $rc
	}
	"$go" build -o "$work/hello" ./examples/hello
	out=$("$work/hello")
	echo "$out"
	case $out in
	*"Hello from a Go-built guest!"*"stopped: debug-exit, status 0"*) ;;
	*) echo "examples/hello printed something else" >&2; exit 1 ;;
	esac
	;;
*) echo "run.sh: unknown tier $tier" >&2; exit 2 ;;
esac
