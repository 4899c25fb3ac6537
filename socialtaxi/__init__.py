"""socialtaxi: dispatch, GPS monitoring and audit for a regional social taxi service.

The top layer: the command line and the demo. The database plumbing is the bottom-level ``db``
package; domain code lives in ``routing``, ``dispatch``, ``telemetry``, ``audit`` and
``simulators``, the HTTP side in ``web`` (layers: ``pyproject.toml`` ``[tool.importlinter]``).
"""

__version__ = "0.1.0"
