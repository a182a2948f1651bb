#!/bin/sh
# python/pip-install (unit tier): `pip install` of the package works offline, into a fresh venv, from a copy of
# bindings/python (pip builds in the tree it is given), and the installed package loads the library.
# Offline means the interpreter's own setuptools and wheel (Debian: python3-setuptools, python3-wheel, seen
# through --system-site-packages) and --no-build-isolation; skips (77) without venv or wheel.
# Usage: pip-install.sh PYTHON WORKDIR   (KVMHOST_LIBRARY: the library to load)
set -eu
py=${1:?usage: pip-install.sh PYTHON WORKDIR}
work=${2:?}
src=$(cd "$(dirname "$0")/.." && pwd)
"$py" -c 'import ensurepip, venv' 2>/dev/null || { echo "SKIP: no venv/ensurepip (Debian: python3-venv)"; exit 77; }
"$py" -c 'import wheel, setuptools' 2>/dev/null || { echo "SKIP: no wheel/setuptools (Debian: python3-wheel)"; exit 77; }
rm -rf "$work"
mkdir -p "$work/src"
cp -r "$src/pyproject.toml" "$src/README.md" "$src/kvmhost" "$work/src/"
"$py" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install -q --no-build-isolation --no-index --no-deps "$work/src"
cd "$work"
"$work/venv/bin/python" - <<'PY'
import os, kvmhost
assert kvmhost.__file__.startswith(os.path.realpath("venv")) or "/venv/" in kvmhost.__file__, kvmhost.__file__
assert os.path.exists(os.path.join(os.path.dirname(kvmhost.__file__), "py.typed"))
print("installed", kvmhost.__file__, "library", kvmhost.version(), kvmhost.library_path())
PY
