#!/bin/sh
# unit/man-pages: the hand-written section 3 pages in docs/man/ format without a groff warning, and each
# ".so" page names a page that exists. Usage: docs/check-man.sh SOURCE_DIR [GROFF]
set -eu
cd "$1/docs/man"
groff=${2:-groff}
status=0 n=0
for p in *.3; do
	n=$((n + 1))
	if head -1 "$p" | grep -q '^\.so '; then
		target=$(head -1 "$p" | sed 's|^\.so man3/||')
		[ -f "$target" ] || { echo "$p: .so names $target, which is missing"; status=1; }
		continue
	fi
	out=$(LC_ALL=C.UTF-8 "$groff" -man -ww -z -Tutf8 "$p" 2>&1) || status=1
	[ -z "$out" ] || { echo "$p: $out"; status=1; }
done
[ "$status" -eq 0 ] && echo "docs/man: $n pages, no warnings"
exit "$status"
