"""socialtaxi: dispatch, GPS monitoring and audit for a regional social taxi service.

This package holds what every domain package shares: the command line and the database plumbing
(migrations, the time-series store). Domain code lives in ``dispatch``, ``telemetry``, ``routing``,
``audit``, ``web`` and ``simulators``.
"""

__version__ = "0.1.0"
