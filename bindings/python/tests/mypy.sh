#!/bin/sh
# python/mypy (unit tier): the package's type hints pass mypy --strict; skips (77) without mypy (python3-mypy).
# Usage: mypy.sh PYTHON CACHE_DIR
py=${1:?usage: mypy.sh PYTHON CACHE_DIR}
cache=${2:?}
if ! "$py" -m mypy --version >/dev/null 2>&1; then
	echo "SKIP: mypy is not installed (Debian: python3-mypy)"
	exit 77
fi
cd "$(dirname "$0")/.." && exec "$py" -m mypy --strict --cache-dir="$cache" kvmhost
