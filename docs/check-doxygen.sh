#!/bin/sh
# unit/doxygen: build the API reference (docs/Doxyfile) into a scratch folder and fail on any Doxygen warning
# (an undocumented function, parameter, return value, struct member or macro of include/kvmhost is a bug).
# Usage: docs/check-doxygen.sh SOURCE_DIR SCRATCH_DIR [DOXYGEN]
set -eu
src=$1 out=$2 doxygen=${3:-doxygen}
rm -rf "$out" && mkdir -p "$out"
cd "$src"
rc=0
KVMHOST_DOC_OUT=$out "$doxygen" docs/Doxyfile >"$out/doxygen.out" 2>&1 || rc=$?
# FAIL_ON_WARNINGS writes each warning as "file:line: error: ..." in the log.
n=$(grep -cE ': (warning|error): ' "$out/warnings.log" 2>/dev/null || true)
if [ "$rc" -ne 0 ] || [ "${n:-0}" -ne 0 ]; then
	echo "doxygen: ${n:-0} warnings (exit $rc); the first ones:"
	head -40 "$out/warnings.log" 2>/dev/null || true
	tail -5 "$out/doxygen.out"
	exit 1
fi
echo "doxygen: no warnings; $(ls "$out/html" | wc -l) HTML files in $out/html"
