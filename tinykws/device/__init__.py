"""Talking to boards: the serial protocol client (`protocol`) and the QEMU launcher (`qemu`)."""
