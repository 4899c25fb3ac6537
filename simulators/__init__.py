"""Simulated vehicles publishing GPS fixes and trip events over MQTT, and labelled scenario
sets with ground truth for the audit.

Pure modules: :mod:`simulators.motion` (driving real road geometry), :mod:`simulators.gps`
(receiver error), :mod:`simulators.scenarios` (labelled trips), :mod:`simulators.schedule`
(what a fleet publishes when). Shell: :mod:`simulators.services.fleet` (live fleet),
:mod:`simulators.services.load` (load mode), :mod:`simulators.cli` (``socialtaxi simulate``).
"""

from pathlib import Path

#: the small map shipped with the package (Murino, Leningrad Oblast; ODbL, see data/README.md)
DEFAULT_MAP = Path(__file__).resolve().parent / "data" / "murino_lo.osm.gz"
