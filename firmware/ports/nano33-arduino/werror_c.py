# PlatformIO post-script: -Werror for the project's own C sources only.
#
# projenv is the construction environment of the project's sources (src/), not of the Arduino
# core or its libraries; CFLAGS reach the C compiler only. The port's C++ file gets -Wall
# -Wextra (build_src_flags) without -Werror, because it includes the core's headers, whose
# warnings are not ours to fix. This file is run by PlatformIO's SCons, not by Python.
Import("projenv")  # noqa: F821

projenv.Append(CFLAGS=["-Werror"])  # noqa: F821
