"""tinykws: keyword spotting for microcontrollers.

The API never prints (except progress bars on stderr) and never exits; the `tinykws`
command in :mod:`tinykws.cli` is a thin layer that parses arguments, calls the API, prints.
Heavy imports (TensorFlow, tflite_micro) happen inside functions so that the CLI starts fast.
"""

from tinykws.errors import TinyKWSError

__all__ = ["TinyKWSError", "__version__"]
__version__ = "0.1.0"
