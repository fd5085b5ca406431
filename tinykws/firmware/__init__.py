"""Firmware: the C sources, a compiled model and a board profile built into an ELF.

- `build`: the bare-metal build with arm-none-eabi-gcc (the `build` verb);
- `pio`: the same sources built against the Arduino core with PlatformIO.

Nothing here flashes or talks to a board: that is tinykws.device.
"""
