#!/usr/bin/env bash
# Cross-check moreml-wbc against svZeroDSolver (PyPI `svzerod`): an RCR windkessel under a
# prescribed inflow and the closed-loop default patient. Creates a venv on first use
# (python3 -m venv; pip install svzerod), builds the moreml binary if missing, prints the
# max relative differences and exits non-zero above the tolerances.
#
# Environment: SVZEROD_VENV (venv dir, default target/svzerod-venv), MOREML_BIN (binary,
# default target/release/moreml). Extra arguments go to compare.py (--params FILE,
# --rcr-tol, --loop-tol, --cycles).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SVZEROD_VENV:-$root/target/svzerod-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import svzerod" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "svzerod>=3.2" numpy
fi
moreml="${MOREML_BIN:-$root/target/release/moreml}"
if [ ! -x "$moreml" ]; then
    cargo build --quiet --release -p moreml --manifest-path "$root/Cargo.toml"
fi
exec "$venv/bin/python" "$here/compare.py" --moreml "$moreml" "$@"
