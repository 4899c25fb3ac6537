#!/usr/bin/env bash
# Build the Valhalla/Meili benchmark peer: a separate Python 3.12 venv with pyvalhalla, and
# Valhalla routing tiles built from one of our OSM files.
#
#   bench/peers/valhalla_env.sh                      # venv only
#   bench/peers/valhalla_env.sh /path/to/map.osm.pbf # venv + tiles for that map
#
# pyvalhalla 3.9.x ships wheels for CPython 3.12 only (our runtime is 3.11), so it never enters
# the project's venv: bench/peers/meili_runner.py runs in this venv, in its own process.
# Everything lands in bench/.peers/ (git-ignored). Set PYTHON312 to choose the interpreter.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.peers"
venv="$root/valhalla-venv"
py="${PYTHON312:-}"
if [[ -z "$py" ]]; then
    if command -v python3.12 >/dev/null 2>&1 && python3.12 --version >/dev/null 2>&1; then
        py=python3.12
    elif command -v pyenv >/dev/null 2>&1 && [[ -x "$(pyenv root)/versions/3.12.1/bin/python3.12" ]]; then
        py="$(pyenv root)/versions/3.12.1/bin/python3.12"
    else
        py="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | head -1)"
    fi
fi
[[ -n "$py" ]] || { echo "python3.12 not found (set PYTHON312)" >&2; exit 2; }
mkdir -p "$root"
if [[ ! -x "$venv/bin/python" ]]; then
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q 'pyvalhalla>=3.9,<3.10' 'osmium>=3.7,<5' 2>&1 | grep -v '^WARNING: Location' || true
fi
"$venv/bin/python" -c 'import valhalla' || { echo "pyvalhalla failed to import" >&2; exit 3; }
if [[ $# -ge 1 ]]; then
    "$venv/bin/python" "$here/valhalla_tiles.py" "$1" --root "$root"
fi
