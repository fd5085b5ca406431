/* Host stand-in for the generated build header (tests/test_nano33_usbd_model.py). */
#ifndef TINYKWS_BUILD_INFO_H
#define TINYKWS_BUILD_INFO_H
#define TINYKWS_BOARD_NAME "nano33"
#define TINYKWS_CLOCK_HZ 64000000u
#define TINYKWS_ENERGY_MODE 0
#endif
