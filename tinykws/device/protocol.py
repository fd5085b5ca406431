"""Host side of the EnergyRunner / MLPerf Tiny serial protocol with the tinykws extensions.

The firmware side and every message are documented in firmware/PROTOCOL.md. This client is
built to never hang and to say what went wrong, the way esptool does:

- every read has a deadline; a silent device gives DeviceTimeout naming the command and what
  was received so far;
- bytes that are not protocol lines (line noise, a wrong baud rate, another program's output)
  give DeviceGarbage, after resynchronizing once for commands that are safe to repeat;
- a device that reboots mid-command (its boot lines `m-init-done` appear) gives DeviceReset;
- a port that another program holds gives PortBusy.
All of them are TinyKWSError, so the CLI prints one line.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from tinykws.errors import TinyKWSError

READY = "m-ready"
BOOT_LINES = ("m-init-done", "m-timestamp-mode-performance", "m-timestamp-mode-energy")
CHUNK_BYTES = 32  # `db <64 hex digits>%` is 67 characters, under the 80-character limit
MAX_CMD = 80
_LINE_OK = re.compile(r"^(m-|e-|\{|\s*$)")  # protocol lines; `help` alone prints free text
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
# Commands that can be repeated without changing the outcome (safe to retry after garbage).
# A line's bound before the model is known (boot lines, info JSON): the firmware's own lines are
# far shorter; a model's results and features lines are bounded by line_limit().
BASE_LINE = 4096
# widest value the firmware prints: a result in thousandths of int32 range, "-2147483.648"
_WIDEST_RESULT = 12
_WIDEST_INT8 = 4  # "-128"
_IDEMPOTENT = ("name", "profile", "info", "results", "help", "timestamp", "mode", "infer", "ops", "features")


def line_limit(n_inputs: int, n_outputs: int) -> int:
    """The longest line a device may send for a model with these sizes, with margin.

    Why from the model: `m-results-[...]` prints every output (up to 12 characters each plus a
    comma) and `m-features-[...]` every input (4 + 1), so a fixed bound either breaks a model with
    a large output (an autoencoder's 640 values) or lets a runaway line grow without limit.
    """
    results = len("m-results-int8-[") + n_outputs * (_WIDEST_RESULT + 1) + 3
    features = len("m-features-[") + n_inputs * (_WIDEST_INT8 + 1) + 3
    return max(BASE_LINE, 2 * max(results, features))


class DeviceError(TinyKWSError):
    """A serial-protocol failure (base class)."""


class DeviceTimeout(DeviceError):
    pass


class DeviceGarbage(DeviceError):
    pass


class DeviceReset(DeviceError):
    pass


class PortBusy(DeviceError):
    pass


class DeviceCommandError(DeviceError):
    """The device answered with an `e-[...]` error line."""


@dataclass
class InferResult:
    """One `infer N W` reply."""

    results: list[float]  # dequantized, as printed in m-results-[...]
    raw: list[int]  # int8 output (m-results-int8-[...])
    n: int
    warmup: int
    lap_us: list[int] = field(default_factory=list)  # m-lap-us timestamps (virtual on QEMU)
    counter_unit: str | None = None  # "instructions" (emulated) or "cycles"
    counter_total: int | None = None  # over the n timed inferences

    @property
    def per_inference(self) -> float | None:
        if self.counter_total is None:
            return None
        return self.counter_total / self.n


def open_port(port: str, baud: int = 115200, timeout: float = 0.1):  # -> serial.Serial
    """Open a serial port (a device path or a pyserial URL such as socket://host:port).

    Device paths are opened exclusively, so a port already in use by another program
    (a serial monitor, a second tinykws) is reported as busy instead of interleaving bytes.
    """
    import serial

    try:
        if "://" in port:
            return serial.serial_for_url(port, baudrate=baud, timeout=timeout)
        return serial.Serial(port, baudrate=baud, timeout=timeout, exclusive=True)
    except serial.SerialException as exc:
        msg = str(exc)
        why = msg.replace(port, "").lower()  # the port's own name may contain "busy" or "lock"
        if "lock" in why or "busy" in why or "errno 16" in why:
            raise PortBusy(
                f"{port}: port is busy: another program has it open (close the serial monitor, "
                "or the other tinykws run, and try again)"
            ) from exc
        if "No such file" in msg or "could not open port" in msg.lower():
            raise DeviceError(f"{port}: cannot open serial port: {msg}") from exc
        raise DeviceError(f"{port}: cannot open serial port: {msg}") from exc


class DeviceClient:
    """A board speaking the protocol over `ser` (a pyserial object with a short read timeout)."""

    def __init__(self, ser: Any, name: str = "device", timeout: float = 10.0):
        self.ser = ser
        self.name = name
        self.timeout = timeout
        self._buf = b""
        self.boot_lines: list[str] = []
        self.max_line = BASE_LINE

    def expect_model(self, n_inputs: int, n_outputs: int) -> None:
        """Bound lines by what this model's replies need (see line_limit)."""
        self.max_line = line_limit(n_inputs, n_outputs)

    # ----------------------------------------------------------------- low level
    def _readline(self, deadline: float, what: str, seen: list[str]) -> str:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0 and time.monotonic() >= deadline:
                # lines keep coming but the reply never ends: bounded by the same deadline
                got = "; ".join(s[:60] for s in seen[-3:]) or "nothing"
                raise DeviceTimeout(
                    f"{self.name}: the reply to {what} did not end within the timeout "
                    f"({len(seen)} lines, no m-ready; last: {got})"
                )
            if nl > self.max_line:
                nl = -1  # a line longer than the bound is garbage even with its line end
            if nl >= 0:
                raw, self._buf = self._buf[: nl + 1], self._buf[nl + 1 :]
                try:
                    return raw.decode("ascii").rstrip("\r\n")
                except UnicodeDecodeError:
                    return "\x00" + raw.hex()  # marks a non-ASCII line as garbage
            if len(self._buf) > self.max_line:
                raise DeviceGarbage(
                    f"{self.name}: {len(self._buf)} bytes without a line end while waiting for {what}: "
                    f"{self._buf[:40]!r}... (wrong baud rate or not a tinykws device?)"
                )
            now = time.monotonic()
            if now >= deadline and seen:
                got = "; ".join(s[:60] for s in seen[-3:])
                raise DeviceTimeout(
                    f"{self.name}: the reply to {what} did not end within the timeout "
                    f"({len(seen)} lines, no m-ready; last: {got})"
                )
            if now >= deadline:
                got = "nothing"
                partial = f", partial line {self._buf[:60]!r}" if self._buf else ""
                raise DeviceTimeout(
                    f"{self.name}: no answer to {what} within the timeout (received: {got}{partial}); "
                    "is the device running tinykws firmware, and the port and baud rate right?"
                )
            try:
                chunk = self.ser.read(max(1, getattr(self.ser, "in_waiting", 0) or 1))
            except OSError as exc:  # includes serial.SerialException
                raise DeviceError(f"{self.name}: serial port failed while waiting for {what}: {exc}") from exc
            if chunk:
                self._buf += chunk

    def write_raw(self, data: bytes) -> None:
        """Send bytes as they are (no '%' added)."""
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
            self.ser.flush()
        except OSError as exc:
            raise DeviceError(f"{self.name}: cannot write to serial port: {exc}") from exc

    def drain(self, quiet: float = 0.05, limit: float = 1.0) -> bytes:
        """Discard input until the line is quiet for `quiet` seconds (at most `limit`)."""
        end = time.monotonic() + limit
        got = self._buf
        self._buf = b""
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            chunk = self.ser.read(256)
            if chunk:
                got += chunk
                last = time.monotonic()
        return got

    # ----------------------------------------------------------------- protocol
    def wait_boot(self, timeout: float | None = None) -> list[str]:
        """Read the boot lines up to the first `m-ready` (after `m-init-done`)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        seen: list[str] = []
        while True:
            line = self._readline(deadline, "boot (m-init-done, m-ready)", seen)
            seen.append(line)
            if line == READY and "m-init-done" in seen:
                self.boot_lines = seen
                return seen

    def read_reply(self, what: str = "a reply", timeout: float | None = None) -> list[str]:
        """Read lines up to the next `m-ready` without sending anything (raw access for tests)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: list[str] = []
        while True:
            line = self._readline(deadline, what, lines)
            if line == READY:
                return lines
            lines.append(line)

    def _exchange(self, cmd: str, timeout: float, payload: bytes = b"") -> list[str]:
        deadline = time.monotonic() + timeout
        self._write(cmd.encode("ascii") + b"%" + payload)
        lines: list[str] = []
        while True:
            line = self._readline(deadline, f"'{cmd}'", lines)
            if line in BOOT_LINES:
                raise DeviceReset(
                    f"{self.name}: device reset while running '{cmd}' (it printed '{line}' again); "
                    "check its power supply and for a crash (stack overflow, fault)"
                )
            if line == READY:
                return lines
            ok = _PRINTABLE.match(line) if cmd == "help" else _LINE_OK.match(line)
            if line and not ok:
                raise DeviceGarbage(f"{self.name}: unexpected bytes in the reply to '{cmd}': {line[:60]!r}")
            if line:
                lines.append(line)

    def command(
        self, cmd: str, timeout: float | None = None, retries: int = 1, payload: bytes = b""
    ) -> list[str]:
        """Send `cmd` (without '%'), return the reply lines before `m-ready`.

        Garbage in the reply of a command that is safe to repeat leads to one resync
        (drain the line, then repeat); device errors (`e-[...]`) raise DeviceCommandError.
        `payload` is binary data sent right after the '%' (the `audio N` samples).
        """
        if len(cmd) > MAX_CMD:
            raise DeviceError(f"{self.name}: command longer than {MAX_CMD} characters: {cmd[:30]}...")
        safe = cmd.split(" ", 1)[0] in _IDEMPOTENT
        attempt = 0
        while True:
            try:
                lines = self._exchange(cmd, timeout or self.timeout, payload)
                break
            except DeviceGarbage:
                if not safe or attempt >= retries:
                    raise
                attempt += 1
                self.drain()
        errs = [ln for ln in lines if ln.startswith("e-[")]
        if errs:
            raise DeviceCommandError(f"{self.name}: '{cmd}' failed: {errs[0][3:-1]}")
        return lines

    def resync(self) -> None:
        """After a fault: discard pending input (boot lines too) and check the device answers."""
        self.drain(quiet=0.2, limit=2.0)
        self.command("name")

    def name_(self) -> str:
        for ln in self.command("name"):
            m = re.match(r"m-name-dut-\[(.*)\]$", ln)
            if m:
                return m.group(1)
        raise DeviceGarbage(f"{self.name}: no m-name-dut line in the reply to 'name'")

    def info(self) -> dict[str, Any]:
        import json

        for ln in self.command("info"):
            if ln.startswith("{"):
                try:
                    return json.loads(ln)
                except ValueError as exc:
                    raise DeviceGarbage(f"{self.name}: 'info' reply is not JSON: {ln[:60]!r}") from exc
        raise DeviceGarbage(f"{self.name}: no JSON line in the reply to 'info'")

    def mode(self, mode: str) -> None:
        self.command(f"mode {mode}")

    def load(self, data: bytes, pipeline: bool = False) -> None:
        """Load `data` into the device buffer with `db load N` and `db <hex>` chunks.

        pipeline=True sends all chunks before reading the replies; only for links with flow
        control (QEMU's socket), never for a real UART without it.
        """
        n = len(data)
        lines = self.command(f"db load {n}")
        if not any(ln == f"m-[Expecting {n} bytes]" for ln in lines):
            raise DeviceGarbage(f"{self.name}: unexpected reply to 'db load {n}': {lines}")
        chunks = [data[i : i + CHUNK_BYTES] for i in range(0, n, CHUNK_BYTES)]
        done = False
        if pipeline:
            self._write(b"".join(b"db " + c.hex().encode() + b"%" for c in chunks))
            for i in range(len(chunks)):
                deadline = time.monotonic() + self.timeout
                lines = []
                while True:
                    line = self._readline(deadline, f"'db' chunk {i + 1}/{len(chunks)}", lines)
                    if line in BOOT_LINES:
                        raise DeviceReset(f"{self.name}: device reset while loading data (printed '{line}')")
                    if line == READY:
                        break
                    if line.startswith("e-["):
                        raise DeviceCommandError(f"{self.name}: 'db' failed: {line[3:-1]}")
                    if line and not _LINE_OK.match(line):
                        raise DeviceGarbage(
                            f"{self.name}: unexpected bytes while loading data: {line[:60]!r}"
                        )
                    lines.append(line)
                done = done or "m-load-done" in lines
        else:
            for c in chunks:
                done = "m-load-done" in self.command("db " + c.hex()) or done
        if not done:
            raise DeviceGarbage(f"{self.name}: device did not confirm the load (no m-load-done)")

    def load_random(self, seed: int, n: int) -> bytes:
        """`db rand SEED N`: the device fills its buffer with xorshift32 bytes; returns them."""
        lines = self.command(f"db rand {seed} {n}")
        if "m-load-done" not in lines:
            raise DeviceGarbage(f"{self.name}: unexpected reply to 'db rand': {lines}")
        return xorshift_bytes(seed, n)

    def infer(self, n: int = 1, warmup: int = 0, timeout: float | None = None) -> InferResult:
        lines = self.command(f"infer {n} {warmup}", timeout=timeout)
        return parse_infer(lines, n, warmup, self.name)

    def results(self) -> InferResult:
        return parse_infer(self.command("results"), 1, 0, self.name, need_timing=False)

    def ops(self, n: int = 1, timeout: float | None = None) -> list[tuple[str, int]]:
        """Per-op counts (mean per inference, in the device's counter unit)."""
        out = []
        for ln in self.command(f"ops {n}", timeout=timeout):
            m = re.match(r"m-op-\[(\d+),([^,]*),(\d+),(\d+)\]$", ln)
            if m:
                out.append((m.group(2), round(int(m.group(3)) / int(m.group(4)))))
        return out

    def features(self) -> list[int]:
        for ln in self.command("features"):
            m = re.match(r"m-features-\[(.*)\]$", ln)
            if m:
                try:
                    return [int(v) for v in m.group(1).split(",")]
                except ValueError:
                    raise DeviceGarbage(f"{self.name}: malformed m-features line: {ln[:60]!r}") from None
        raise DeviceGarbage(f"{self.name}: no m-features line in the reply to 'features'")

    def close(self) -> None:
        try:
            self.ser.close()
        except OSError:
            pass


def xorshift_bytes(seed: int, n: int) -> bytes:
    """The bytes of the firmware's `db rand SEED N` (xorshift32, little-endian words)."""
    x = seed & 0xFFFFFFFF
    if x == 0:
        raise ValueError("xorshift32 seed must be non-zero")
    out = bytearray()
    while len(out) < n:
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out += x.to_bytes(4, "little")
    return bytes(out[:n])


def parse_infer(lines: list[str], n: int, warmup: int, name: str, need_timing: bool = True) -> InferResult:
    """Parse the lines of an `infer` (or `results`) reply; a malformed line is DeviceGarbage."""
    try:
        return _parse_infer(lines, n, warmup, name, need_timing)
    except ValueError as exc:
        bad = next((ln for ln in lines if ln.startswith(("m-results", "m-lap", "m-perf"))), "")
        raise DeviceGarbage(f"{name}: malformed line in the reply: {bad[:60]!r} ({exc})") from None


def _parse_infer(lines: list[str], n: int, warmup: int, name: str, need_timing: bool) -> InferResult:
    results: list[float] | None = None
    raw: list[int] | None = None
    laps: list[int] = []
    unit = total = None
    for ln in lines:
        if ln.startswith("m-results-int8-["):
            raw = [int(v) for v in ln[len("m-results-int8-[") : -1].split(",") if v]
        elif ln.startswith("m-results-["):
            results = [float(v) for v in ln[len("m-results-[") : -1].split(",") if v]
        elif ln.startswith("m-lap-us-"):
            laps.append(int(ln[len("m-lap-us-") :]))
        elif ln.startswith("m-perf-["):
            u, t, _ = ln[len("m-perf-[") : -1].split(",")
            unit, total = u, int(t)
    if results is None or raw is None:
        raise DeviceGarbage(f"{name}: reply has no m-results lines: {lines[-4:]}")
    if need_timing and unit is None:
        raise DeviceGarbage(f"{name}: reply has no m-perf line (not a tinykws firmware?)")
    return InferResult(results, raw, n, warmup, laps, unit, total)
