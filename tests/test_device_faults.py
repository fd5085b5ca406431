"""Serial faults against a fake device: each fault gives its clear message within the timeout.

The fake device is a thread behind a loopback socket (pyserial socket://) that answers the
protocol and misbehaves on purpose; the busy-port case uses a pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import socket
import threading
import time

import pytest

from tinykws.device.protocol import (
    DeviceClient,
    DeviceCommandError,
    DeviceGarbage,
    DeviceReset,
    DeviceTimeout,
    PortBusy,
    open_port,
)

BOOT = b"m-timestamp-mode-performance\r\nm-init-done\r\nm-ready\r\n"


class FakeDevice:
    """Answers commands with `behaviour(cmd) -> bytes` (None: stay silent)."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]
        self.commands: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.srv.accept()
        with conn:
            # pyserial's socket:// open() flushes its input: boot a moment after the connect
            time.sleep(0.15)
            conn.sendall(BOOT)
            buf = b""
            while True:
                try:
                    data = conn.recv(1024)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"%" in buf:
                    cmd, buf = buf.split(b"%", 1)
                    self.commands.append(cmd.decode())
                    reply = self.behaviour(cmd.decode(), len(self.commands))
                    if reply:
                        conn.sendall(reply)

    def client(self, timeout: float = 1.0) -> DeviceClient:
        ser = open_port(f"socket://127.0.0.1:{self.port}", timeout=0.05)
        dev = DeviceClient(ser, name="fake", timeout=timeout)
        dev.wait_boot()
        return dev


def test_timeout_names_command_and_returns_in_time():
    fake = FakeDevice(lambda cmd, i: None)
    dev = fake.client(timeout=0.5)
    t = time.monotonic()
    with pytest.raises(DeviceTimeout, match=r"no answer to 'name' within the timeout"):
        dev.name_()
    assert time.monotonic() - t < 2.0
    dev.close()


def test_garbage_is_retried_for_safe_commands_then_reported():
    # first reply garbage, second good: `name` is safe to repeat, so it recovers
    fake = FakeDevice(
        lambda cmd, i: b"\xff\xfe\x00garbage\r\n" if i == 1 else b"m-name-dut-[x]\r\nm-ready\r\n"
    )
    dev = fake.client()
    assert dev.name_() == "x"
    assert fake.commands == ["name", "name"]
    dev.close()

    fake = FakeDevice(lambda cmd, i: b"\x13\x37 noise noise\r\nm-ready\r\n")
    dev = fake.client()
    with pytest.raises(DeviceGarbage, match=r"unexpected bytes in the reply to 'name'"):
        dev.name_()
    dev.close()


def test_garbage_without_line_end():
    fake = FakeDevice(lambda cmd, i: b"\xaa" * 5000)
    dev = fake.client()
    with pytest.raises(DeviceGarbage, match=r"without a line end .*wrong baud rate"):
        dev.command("db load 4")  # not safe to repeat: no retry
    dev.close()


def test_reset_mid_run():
    def behaviour(cmd: str, i: int) -> bytes:
        if cmd.startswith("infer"):
            return b"m-warmup-start-0\r\nm-warmup-done\r\n" + BOOT
        return b"m-ready\r\n"

    dev = FakeDevice(behaviour).client()
    with pytest.raises(DeviceReset, match=r"device reset while running 'infer 1 0'.*m-timestamp-mode"):
        dev.infer(1, 0)
    dev.close()


def test_device_error_line_is_reported():
    dev = FakeDevice(lambda cmd, i: b"e-[Unknown command: foo]\r\nm-ready\r\n").client()
    with pytest.raises(DeviceCommandError, match=r"'foo' failed: Unknown command: foo"):
        dev.command("foo")
    dev.close()


def test_busy_port():
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    first = open_port(path)
    try:
        with pytest.raises(PortBusy, match=r"port is busy: another program has it open"):
            open_port(path)
    finally:
        first.close()
        os.close(master)
        os.close(slave)


def test_bench_retries_an_input_once_after_a_reset():
    import numpy as np

    from tinykws.device.bench import _run_one

    state = {"infers": 0}

    def behaviour(cmd: str, i: int) -> bytes:
        if cmd.startswith("db load"):
            return b"m-[Expecting 4 bytes]\r\nm-ready\r\n"
        if cmd.startswith("db "):
            return b"m-load-done\r\nm-ready\r\n"
        if cmd.startswith("infer"):
            state["infers"] += 1
            if state["infers"] == 1:
                return b"m-warmup-start-0\r\n" + BOOT
            return (
                b"m-warmup-start-0\r\nm-warmup-done\r\nm-infer-start-1\r\nm-lap-us-1\r\nm-lap-us-2\r\n"
                b"m-infer-done\r\nm-results-[0.500]\r\nm-results-int8-[0]\r\nm-perf-[instructions,40,1]\r\n"
                b"m-ready\r\n"
            )
        if cmd == "name":
            return b"m-name-dut-[x]\r\nm-ready\r\n"
        return b"e-[Unknown command: " + cmd.encode() + b"]\r\nm-ready\r\n"

    fake = FakeDevice(behaviour)
    dev = fake.client()
    assert _run_one(dev, np.zeros(4, np.int8), False, 1.0) == [0]
    assert [c.split(" ")[0] for c in fake.commands] == ["db", "db", "infer", "name", "db", "db", "infer"]
    dev.close()
