#!/bin/sh
# The README's demo command: install what the build needs, build, and run the
# smallest complete VMM (examples/hello), which boots a built-in tiny guest.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target hello
echo "--- running build/examples/hello/hello"
exec build/examples/hello/hello
