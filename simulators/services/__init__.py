"""The simulator's shell: the live fleet (database, broker) and load mode (broker)."""
