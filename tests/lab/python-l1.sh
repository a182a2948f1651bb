#!/bin/sh
# The Python binding's kvm tests in L1 (lab case bindings/python_kvm, tests/lab/l1/bindings-python.sh): run-lab
# calls this on the host to make a directory tree, laid out as L1's root, that holds what those tests need and
# nothing else of the host's Python:
#   the interpreter (at its own path: it finds its standard library from there) and the libraries ldd names;
#   the standard-library and dist-packages modules that the binding, its tests, run.py and pytest import: found
#   by importing them here (every _pytest submodule, every module named by an import statement in the binding's
#   and its tests' sources, lazy ones included, and what a pytest session imports: one on a probe test that
#   passes, fails, skips and errors), then taken whole per top-level package (a package's other modules may be
#   imported lazily; codecs and extension modules only as imported), each as a lone .pyc without its source
#   (mkguest's copies do not keep the files' times, which a .pyc in __pycache__ is checked against: it would be
#   recompiled at every import under TCG; and a lone .pyc is half the bytes);
#   the extension modules among them, with the libraries ldd names;
#   /lab/python/{kvmhost,tests,examples,pyproject.toml} (the binding's sources) and /lab/python/libkvmhost.so.0 (the build's
#   library) with the libraries ldd names (liburing, libfdt); /lab/python/interpreter names the interpreter.
# Usage: python-l1.sh PYTHON LIBKVMHOST BINDING_SRC OUTDIR    (OUTDIR is made anew)
# Exit 77 (and OUTDIR/skip-reason) when PYTHON has no pytest: the case then skips with that reason.
set -eu
py=${1:?usage: python-l1.sh PYTHON LIBKVMHOST BINDING_SRC OUTDIR}
lib=${2:?}
src=${3:?}
out=${4:?}
rm -rf "$out"
mkdir -p "$out"
root=$out/root
mkdir -p "$root/lab/python"
interp=$(readlink -f "$("$py" -c 'import sys; print(sys.executable)')") # the binary, not a wrapper (pyenv)

copy() { # FILE: into the tree at its own absolute path (symlinks followed)
	[ -e "$root$1" ] && return 0
	mkdir -p "$root$(dirname "$1")"
	cp -L "$1" "$root$1"
}
copy_libs() { # ELF FILE: the shared libraries ldd names for it
	for l in $(ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]*ld-linux/ { print $1 }'); do
		copy "$l"
	done
}

# The modules: a list of files (the interpreter's own modules, by top-level package) printed by the interpreter.
if ! "$interp" -s -c 'import pytest' 2>/dev/null; then
	echo "python-l1.sh: $interp has no pytest (Debian: python3-pytest)" >"$out/skip-reason"
	exit 77
fi
"$interp" -s - "$src" >"$out/files.txt" <<'EOF'
import ast, importlib, os, pkgutil, sys, sysconfig
src = sys.argv[1]
sys.path.insert(0, src)
sys.path.insert(0, os.path.join(src, "tests"))
def names_in(path):  # every module an import statement names, lazy ones too
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())
    except (OSError, SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
def try_import(name):
    try:
        importlib.import_module(name)
    except BaseException:  # not installed here (numpy, twisted ...), or a module that refuses: not needed
        pass
import pytest, _pytest, pluggy
# What pytest imports only while it runs (its configuration file, assertion rewriting, a failure's report, a
# skip): a session like run.py's on a test file that passes, fails, skips and errors, with the binding's own
# pyproject.toml, here, its output thrown away. pytest's other lazy imports (doctest, pdb, pygments ...) are for
# features these tests do not use.
import contextlib, io, shutil, tempfile
with tempfile.TemporaryDirectory() as d:
    shutil.copy(os.path.join(src, "pyproject.toml"), d)
    os.mkdir(os.path.join(d, "tests"))
    with open(os.path.join(d, "tests", "test_probe.py"), "w") as f:
        f.write("import pytest\n"
                "def test_pass(): assert [1, 2] == [1, 2]\n"
                "def test_fail_eq(): assert {'a': [1, 2], 'b': 'x' * 50} == {'a': [1, 3], 'b': 'y' * 50}\n"
                "def test_fail_raise(): raise OSError(5, 'boom')\n"
                "def test_raises():\n    with pytest.raises(ValueError): raise ValueError('x')\n"
                "def test_skip(): pytest.skip('probe')\n"
                "@pytest.fixture\ndef broken(): raise RuntimeError('fixture')\n"
                "def test_error(broken): pass\n")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(["-p", "no:cacheprovider", "-rs", "-m", "not nothing", os.path.join(d, "tests")])
sources = []
for pkg in (_pytest, pluggy):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        try_import(m.name)
for d in (os.path.join(src, "kvmhost"), os.path.join(src, "tests"), os.path.join(src, "examples")):
    sources += [os.path.join(d, f) for f in os.listdir(d) if f.endswith(".py")]
for s in sources:
    for n in names_in(s):
        if n.split(".")[0] not in ("kvmhost", "conftest"):
            try_import(n)
stdlib = sysconfig.get_paths()["stdlib"]
roots = [stdlib] + [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
seen = set()
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if not f or f.startswith(src):
        continue
    f = os.path.realpath(f)
    for r in roots:
        if not f.startswith(r + "/"):
            continue
        rel = os.path.relpath(f, r)
        top = rel.split("/")[0]
        if rel.startswith("lib-dynload/") or top == "encodings":
            item = f  # extension modules and codecs: only those imported
        else:
            item = os.path.join(r, top)
        if item not in seen:
            seen.add(item)
            print(item)
        break
enc = os.path.join(stdlib, "encodings")
for c in ("__init__", "aliases", "utf_8", "ascii", "latin_1"):
    print(os.path.join(enc, c + ".py"))
# the interpreter's startup modules live in the stdlib too (os, site, ...): already imported, so listed above
EOF

copy "$interp"
copy_libs "$interp"
while read -r f; do
	if [ -d "$f" ]; then
		mkdir -p "$root$f"
		# the sources only: fresh .pyc files are made below
		(cd "$f" && find . -name __pycache__ -prune -o -name test -prune -o -name tests -prune -o -type f \
			-print) | while read -r g; do
			case $g in *.pyc) continue ;; esac
			mkdir -p "$root$f/$(dirname "$g")"
			cp -L "$f/$g" "$root$f/$g"
		done
	else
		copy "$f"
		case $f in *.so) copy_libs "$f" ;; esac
	fi
done <"$out/files.txt"
# Compiled next to their sources (-b), which then go: the interpreter imports a lone .pyc without checking it
# against anything, and L1 gets half the bytes (each MB of the image costs L1's boot time). os.py stays: it is
# the landmark by which the interpreter finds its standard library. The binding and its tests keep their
# sources (pytest rewrites the tests' asserts from them, and a failure's report quotes them).
"$interp" -s -m compileall -q -b -j 0 -s "$root" "$root/usr" >/dev/null
find "$root/usr" -name '*.py' ! -path '*/python3.*/os.py' -exec sh -c 'for f; do [ -e "${f}c" ] && rm "$f"; done' sh {} +

# The binding, its tests and the library under test.
mkdir -p "$root/lab/python/kvmhost" "$root/lab/python/tests" "$root/lab/python/examples"
cp "$src"/kvmhost/*.py "$src"/kvmhost/py.typed "$root/lab/python/kvmhost/"
cp "$src"/tests/*.py "$root/lab/python/tests/"
cp "$src"/examples/*.py "$root/lab/python/examples/"
cp "$src/pyproject.toml" "$root/lab/python/"
cp -L "$lib" "$root/lab/python/libkvmhost.so.0"
objcopy --strip-debug "$root/lab/python/libkvmhost.so.0" 2>/dev/null || true # the same code, a quarter the size
copy_libs "$lib"
echo "$interp" >"$root/lab/python/interpreter"
