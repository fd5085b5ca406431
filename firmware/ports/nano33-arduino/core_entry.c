/*
 * The portable core's runner (firmware/core/tinykws_runner.c), compiled with its entry point
 * renamed. On the Arduino mbed core, main() belongs to the core (it starts Mbed OS, then calls
 * setup() and loop()), so the runner's main becomes tinykws_core_main(), which setup() calls
 * (port_nano33_arduino.cpp). The core's source is included unchanged; only this one
 * translation unit sees the rename.
 */
#define main tinykws_core_main
#include "tinykws_runner.c"
