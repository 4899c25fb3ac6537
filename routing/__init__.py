"""Road graph from OpenStreetMap, fast travel-time routes, ETAs and matrices."""
