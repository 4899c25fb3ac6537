#!/usr/bin/env bash
# Idempotent setup of a fresh machine for socialtaxi: system packages, local PostgreSQL and
# Mosquitto running, the virtual environment with the project and its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(postgresql postgresql-contrib mosquitto mosquitto-clients)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL on 127.0.0.1:5432
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  echo "setup: starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Failing rows and statements with their parameters stay out of the PostgreSQL log (they quote
# passengers' personal data): for the application's role, idempotent (docs/security.md).
# DETAIL ("Failing row contains ...") is dropped by terse; STATEMENT by min_error_statement=panic.
app_role=$(python3 -c 'import os,urllib.parse as u; print(u.urlparse(os.environ.get("SOCIALTAXI_DATABASE_URL","postgresql://postgres@127.0.0.1:5432/socialtaxi")).username or "postgres")')
psql -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "ALTER ROLE \"$app_role\" SET log_error_verbosity = terse" \
  -c "ALTER ROLE \"$app_role\" SET log_min_error_statement = panic" >/dev/null \
  || echo "setup: WARNING: could not set log privacy for role $app_role (docs/security.md)" >&2

# Mosquitto on 127.0.0.1:1883
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "setup: starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  for _ in $(seq 1 20); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.5; done
fi

# Python environment
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# (pip warns about unreachable local index mirrors on these machines: filter only those lines)
pip_quiet() { .venv/bin/python -m pip "$@" 2> >(grep -v -E "^WARNING: Location" >&2); }
pip_quiet install -q --disable-pip-version-check --upgrade pip
pip_quiet install -q --disable-pip-version-check -e '.[test]'
.venv/bin/python -c "import socialtaxi, config, db, dispatch, routing, telemetry, web" \
  || { echo "setup: the project did not install" >&2; exit 1; }
echo "setup: ready"
