"""Simulated vehicles publishing GPS fixes and trip events over MQTT."""
