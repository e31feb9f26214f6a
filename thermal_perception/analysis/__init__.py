"""Offline analysis of recorded bags without ROS: ``thermal-perception analyze``.

:func:`analyze_bag` analyses one bag, :func:`analyze_many` several in parallel processes or Ray
tasks; :func:`add_analyze_parser` and :func:`run_analyze` provide the command line.
"""

from thermal_perception.analysis.analyze import (
    AnalysisOptions,
    BagResult,
    add_analyze_parser,
    analyze_bag,
    analyze_many,
    find_bags,
    run_analyze,
)

__all__ = ["AnalysisOptions", "BagResult", "add_analyze_parser", "analyze_bag", "analyze_many",
           "find_bags", "run_analyze"]
