"""Sigma correlation rules on the stream: compiled at load time, evaluated by pure state machines.

* :mod:`.rules` - :func:`compile_correlations` turns pySigma ``SigmaCorrelationRule`` objects into
  :class:`CorrelationRuleInfo` (the engine calls it while loading; ``Engine.correlations``).
* :mod:`.state` - :class:`CorrelationEngine`: ``observe`` / ``observe_input`` / ``advance``, bounded
  state, ``snapshot`` / ``restore``; the window model is documented there. :mod:`.window` holds the
  per-group structures, :mod:`.snapshot` the versioned JSON codec.
* :mod:`.record` - :class:`CorrelationInput`, the compact record the worker repartitions by
  (rule, group) key so every group lands on one worker.
"""

from citysoc.detection.correlation.record import CorrelationInput, partition_key
from citysoc.detection.correlation.rules import CorrelationProblem, CorrelationRuleInfo, compile_correlations
from citysoc.detection.correlation.snapshot import RestoreReport
from citysoc.detection.correlation.state import CorrelationEngine, CorrelationStats
from citysoc.detection.correlation.window import CorrelationLimits

__all__ = [
    "CorrelationEngine",
    "CorrelationInput",
    "CorrelationLimits",
    "CorrelationProblem",
    "CorrelationRuleInfo",
    "CorrelationStats",
    "RestoreReport",
    "compile_correlations",
    "partition_key",
]
