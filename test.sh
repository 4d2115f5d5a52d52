#!/usr/bin/env bash
# Runs every test: installs the Debian packages, builds, runs ctest.
#   ./test.sh                         normal build in build/
#   GTM_SANITIZE="address;undefined" ./test.sh    ASan+UBSan build in build-asan/
#   ./test.sh -L dns                  extra arguments go to ctest (one area)
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
"$top/packaging/deps.sh" test

san=${GTM_SANITIZE:-}
bdir=${GTM_BUILD_DIR:-$top/build${san:+-asan}}
cmake -S "$top" -B "$bdir" -DGTM_SANITIZE="$san" >/dev/null
cmake --build "$bdir" -j"$(nproc)"
cd "$bdir"
ctest --output-on-failure -j2 "$@"
