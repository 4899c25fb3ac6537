"""MQTT ingest of vehicle GPS fixes and trip events."""
