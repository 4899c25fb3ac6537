#!/usr/bin/env sh
# Create deploy/mosquitto/passwd from MQTT_*_PASSWORD variables in .env and a vehicles list.
# Usage: deploy/mosquitto/make-passwd.sh [vehicles.txt]   (one "mqtt_id password" per line; the
# same file is `socialtaxi simulate --credentials` for simulated vehicles: each its own login)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../.env"
out="$here/passwd"
: > "$out"
mosquitto_passwd -b "$out" ingest "$MQTT_INGEST_PASSWORD"
mosquitto_passwd -b "$out" health "$MQTT_HEALTH_PASSWORD"
if [ "${1:-}" ]; then
  while read -r id pw; do [ -n "$id" ] && mosquitto_passwd -b "$out" "$id" "$pw"; done < "$1"
fi
chmod 600 "$out"
echo "written $out"
