"""Run a firmware image on an emulated board (QEMU) and talk to it over a loopback socket.

QEMU always runs with `-icount shift=0`: one guest instruction is 1 ns of virtual time, so the
SysTick counter the firmware reads counts instructions deterministically (DESIGN.md, "Figures
and their honesty"). UART0 is a TCP server on 127.0.0.1 that pyserial opens as socket://.

QEMU is started paused (-S) and only resumed (`cont` on its monitor) once the socket is
connected, so the boot lines are never lost. The context manager always kills the process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tinykws.device.protocol import DeviceClient, DeviceError, open_port
from tinykws.errors import TinyKWSError, missing_tool

QEMU = os.environ.get("TINYKWS_QEMU", "qemu-system-arm")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QemuBoard:
    """A QEMU process running `elf` on `machine`, with a DeviceClient on its UART.

    Use as a context manager: `with QemuBoard(elf, "mps2-an386") as dev: dev.infer(...)`.
    """

    def __init__(
        self, elf: str | os.PathLike[str], machine: str, timeout: float = 20.0, name: str | None = None
    ):
        self.elf = Path(elf)
        self.machine = machine
        self.timeout = timeout
        self.name = name or f"qemu {machine}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: DeviceClient | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None
        self.port: int | None = None

    def _log_text(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace").strip()

    def start(self) -> DeviceClient:
        if shutil.which(QEMU) is None:
            raise missing_tool(QEMU, "sudo apt-get install qemu-system-arm")
        if not self.elf.is_file():
            raise TinyKWSError(f"{self.elf}: no such firmware image")
        last = ""
        for _attempt in range(3):  # the free port may be taken between probe and bind: retry
            self.port = _free_port()
            self._log = tempfile.NamedTemporaryFile(prefix="tinykws-qemu-", suffix=".log", delete=False)
            cmd = [
                QEMU, "-machine", self.machine, "-display", "none", "-monitor", "stdio", "-S",
                "-icount", "shift=0",
                "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on",
                "-kernel", str(self.elf),
            ]  # fmt: skip
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT
            )
            ser = self._connect()
            if ser is not None:
                break
            last = self._log_text()
            self._kill()
        else:
            raise TinyKWSError(f"{self.name}: QEMU did not start: {last[-300:] or 'no output'}")
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"cont\n")
        self.proc.stdin.flush()
        self.client = DeviceClient(ser, name=self.name, timeout=self.timeout)
        try:
            self.client.wait_boot(timeout=self.timeout)
        except DeviceError as exc:
            log = self._log_text()
            self.stop()
            raise DeviceError(f"{exc} [QEMU log: {log[-200:]}]" if log else str(exc)) from exc
        return self.client

    def monitor(self, command: str) -> None:
        """Send a QEMU monitor command (e.g. `system_reset`, `stop`); used to inject faults."""
        if self.proc is None or self.proc.stdin is None:
            raise TinyKWSError(f"{self.name}: QEMU is not running")
        self.proc.stdin.write(command.encode("ascii") + b"\n")
        self.proc.stdin.flush()

    def _connect(self):  # -> serial object or None
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return None
            try:
                return open_port(f"socket://127.0.0.1:{self.port}", timeout=0.05)
            except DeviceError:
                time.sleep(0.05)
        return None

    def _kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                if self.proc.stdin:
                    self.proc.stdin.close()
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=3)
            self.proc = None
        if self._log is not None:
            self._log.close()
            with contextlib.suppress(OSError):
                os.unlink(self._log.name)
            self._log = None

    def stop(self) -> None:
        """Close the link and end QEMU (terminate, then kill); safe to call twice."""
        if self.client is not None:
            self.client.close()
            self.client = None
        self._kill()

    def __enter__(self) -> DeviceClient:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def open_board(board, elf: str | os.PathLike[str] | None = None, port: str | None = None,
               timeout: float = 20.0, baud: int | None = None) -> Iterator[DeviceClient]:  # fmt: skip
    """A DeviceClient for `board`: QEMU for emulated boards, the serial `port` for real ones
    (at `baud`, default the profile's; energy runs use its energy baud rate). A real board
    whose link is USB (profile `serial.transport = "usb"`) is auto-detected by its USB vendor
    id when no port is given."""
    if port is None and board.flash_method == "qemu":
        if elf is None:
            raise TinyKWSError(f"{board.name}: no firmware image to run")
        with QemuBoard(elf, board.qemu_machine, timeout=timeout, name=board.name) as dev:
            yield dev
        return
    if port is None and board.raw.get("serial", {}).get("transport") == "usb":
        # a USB CDC-ACM board (the nano33's default link) is found by its USB vendor id, the
        # same way `flash` finds it
        from tinykws.device import flasher

        vid = int(board.raw.get("flash", {}).get("usb_vid", flasher.ARDUINO_VID))
        port = flasher.find_port(vid, flasher._comports)
    if port is None:
        raise TinyKWSError(f"{board.name}: a real board needs --port (e.g. /dev/ttyACM0)")
    ser = open_port(port, baud=baud or board.baud, timeout=0.05)
    dev = DeviceClient(ser, name=f"{board.name} on {port}", timeout=timeout)
    try:
        # A real board has long finished booting: resynchronize with a harmless command.
        dev.drain()
        dev.command("name")
        yield dev
    finally:
        dev.close()
