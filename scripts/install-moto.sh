#!/usr/bin/env bash
# Installs (or upgrades to) moto >= 5.2.3 with its server extra, for `cargo test --test suite moto::`.
# moto 5.2.1 is broken for Step Functions; anything older lacks what the adapters use.
# Idempotent: does nothing when a good enough moto is already installed.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
MIN="5.2.3"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "install-moto: $PYTHON not found; install Python 3 first" >&2
    exit 1
fi

installed="$("$PYTHON" - <<'PY' 2>/dev/null || true
try:
    from importlib.metadata import version
    print(version("moto"))
except Exception:
    pass
PY
)"

if [ -n "$installed" ] && "$PYTHON" - "$installed" "$MIN" <<'PY'
import re, sys
def key(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])
sys.exit(0 if key(sys.argv[1]) >= key(sys.argv[2]) else 1)
PY
then
    # The server extra needs flask; check it is importable too.
    if "$PYTHON" -c 'import flask, flask_cors' >/dev/null 2>&1; then
        echo "install-moto: moto $installed already installed (>= $MIN)"
        exit 0
    fi
fi

echo "install-moto: installing moto[server]>=$MIN (found: ${installed:-none})"
"$PYTHON" -m pip install --quiet --disable-pip-version-check "moto[server]>=$MIN"
"$PYTHON" -c 'import moto; print("install-moto: moto", moto.__version__, "installed")'
