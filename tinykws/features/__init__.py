"""Features: audio clip -> MFCC matrix -> int8 model input, on the host and on the device.

The package, in the order the pipeline uses it:
- `frontend`: the FrontEnd spec and its numpy/TensorFlow computation (the two built-ins);
- `cache`: int8 features of audio files cached on disk;
- `signals`: test signals for the C twin;
- `files`: EEMBC/MLPerf Tiny feature files (the `tinykws features` verb);
- `shards`: sharded int8 features of whole corpora with a manifest (`features --shards`, docs/scale.md);
- `cheader`: `features_config.h`, the C front end's tables;
- `emulator`: the C front end run under QEMU, checked against the host within 1 LSB.

The front end's public names are re-exported here, because every stage after this one needs them.
"""

from tinykws.features.cache import cached_int8_features, default_cache_dir
from tinykws.features.frontend import FRONTENDS, MLPERF, PSF, FrontEnd, get_frontend

__all__ = [
    "FRONTENDS", "MLPERF", "PSF", "FrontEnd", "cached_int8_features", "default_cache_dir", "get_frontend",
]  # fmt: skip
