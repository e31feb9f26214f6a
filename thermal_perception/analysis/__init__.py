"""Offline analysis of recorded bags without ROS: ``thermal-perception analyze``.

One bag's analysis runs in stages (:class:`~.analyze.BagAnalysis` wires them): ``read_stage``
(topics, the reading thread) -> ``process_stage`` (the processor's chain) -> ``detect_stage``
(detector and tracker, on a thread or in ``detect_process``) -> ``output_stage`` (processed bag,
video, tables, geolocation, ``report``). ``options`` says what to do and what came out;
``batch`` runs many bags in parallel; ``command`` is the command line.

:func:`analyze_bag` analyses one bag, :func:`analyze_many` several in parallel processes or Ray
tasks; :func:`add_analyze_parser` and :func:`run_analyze` provide the command line.
"""

from thermal_perception.analysis.analyze import analyze_bag
from thermal_perception.analysis.batch import analyze_many, find_bags
from thermal_perception.analysis.command import add_analyze_parser, run_analyze
from thermal_perception.analysis.options import AnalysisOptions, BagResult

__all__ = ["AnalysisOptions", "BagResult", "add_analyze_parser", "analyze_bag", "analyze_many",
           "find_bags", "run_analyze"]
