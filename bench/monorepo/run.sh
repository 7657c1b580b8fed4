#!/bin/sh
# Plans the 300 commits of bench/monorepo/history.json with `gate plan --paths-from -` and
# cross-checks the selection (see run.py). Usage: bench/monorepo/run.sh [path/to/gate]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/run.py" "$@"
