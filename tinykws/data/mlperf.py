"""The MLPerf Tiny keyword-spotting task's vocabulary, in one place.

The ten keywords are those of Speech Commands v2 that MLPerf Tiny KWS uses; MLPERF_LABELS is the
output order of its reference model (keywords, then silence, then unknown). tinykws's own models
put `_silence_` and `_unknown_` first instead (DESIGN.md), so code that scores the reference
model next to ours needs this list.
"""

MLPERF_KEYWORDS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes"]
MLPERF_LABELS = [*MLPERF_KEYWORDS, "_silence_", "_unknown_"]
