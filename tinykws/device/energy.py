"""Power monitors over serial, and energy per inference by MLPerf Tiny's rules.

Two monitors that users own, each driven through its documented serial protocol:

- **X-NUCLEO-LPM01A** (STMicroelectronics PowerShield, MLPerf Tiny's monitor): ASCII commands
  ending in CR LF, answered `PowerShield > ack <command>` or `PowerShield > error` followed by
  `Error detail: ...`. Used in host-controlled mode (`htc`), output `energy` (energy integrated
  over each sample period), format `ascii_dec` (`6409-07` = 6409 × 10^-7), trigger on its D7
  pin (`trigsrc d7`, where the board's timestamp GPIO is wired) and a finite acquisition time
  (`acqtime`), so the acquisition starts on the first timestamp edge and lasts exactly the
  timed window; `start` begins, the board prints `Acquisition completed` at the end.
- **Nordic PPK2** (Power Profiler Kit II): single-byte opcodes with arguments (metadata 0x19,
  power mode 0x11, regulator 0x0D, DUT power 0x0C, start 0x06, stop 0x07); samples are 4-byte
  little-endian words at 100 kHz: ADC value in bits 0-13, range in bits 14-16, the eight
  logic inputs in bits 24-31; current from the calibration in the metadata text (R, GS, GI,
  O, S, I, UG per range). The board's timestamp GPIO goes to logic input D0, so the timed
  window is found between its falling edges in the data itself. (This driver implements the
  protocol itself instead of depending on `ppk2-api`, which needs a real port and sleeps; it
  applies no spike filter.)

Energy per inference follows MLPerf Tiny: windows of at least 10 s of back-to-back inferences
between the two timestamp edges, energy / N per window, the median of 5 windows.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinykws.errors import TinyKWSError

MIN_WINDOW_S = 10.0  # MLPerf Tiny: each energy window lasts at least 10 s
WINDOWS = 5  # ... and the result is the median of 5


class MonitorError(TinyKWSError):
    """A power monitor that does not answer, answers an error, or loses data."""


def open_serial(port: str, baud: int, what: str):  # -> serial.Serial
    """Open a monitor's port exclusively, with one clear message for each failure."""
    from tinykws.device.protocol import DeviceError, PortBusy, open_port

    try:
        return open_port(port, baud=baud, timeout=0.05)
    except PortBusy as exc:
        raise MonitorError(f"{what} on {port}: port is busy (another program has it open)") from exc
    except DeviceError as exc:
        raise MonitorError(f"{what} on {port}: cannot open: {exc}") from exc


# ----------------------------------------------------------------------------- LPM01A
_LPM_VALUE = re.compile(r"^(\d{4})([+-])(\d{2})$")
LPM_PROMPT = "PowerShield > "
LPM_BAUD = 3686400  # the board's documented default (its table of acquisition limits assumes it)


def lpm_value(text: str) -> float | None:
    """`6409-07` -> 6409e-7; None for anything that is not an ascii_dec value."""
    m = _LPM_VALUE.match(text.strip())
    if not m:
        return None
    exp = int(m.group(3)) * (-1 if m.group(2) == "-" else 1)
    return int(m.group(1)) * 10.0**exp


@dataclass
class LpmTrace:
    """Energy samples (J per sample period) of one LPM01A acquisition."""

    energy_j: np.ndarray
    freq_hz: float
    messages: list[str] = field(default_factory=list)
    completed: bool = False


class LPM01A:
    """X-NUCLEO-LPM01A in host-controlled mode (see the module docstring for the protocol)."""

    name = "lpm01a"

    def __init__(self, port: str | Any, baud: int = LPM_BAUD, timeout: float = 5.0):
        self.port = port if isinstance(port, str) else getattr(port, "name", "serial")
        self.ser = open_serial(port, baud, "LPM01A") if isinstance(port, str) else port
        self.timeout = timeout
        self._buf = b""
        self.freq_hz = 1000.0
        self._reader: threading.Thread | None = None
        self._trace: LpmTrace | None = None
        self._error: BaseException | None = None

    # -- lines
    def _readline(self, deadline: float, what: str) -> str:
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                raw, self._buf = self._buf[:i], self._buf[i + 1 :]
                return raw.decode("ascii", errors="replace").strip("\r\x00 ")
            if time.monotonic() >= deadline:
                raise MonitorError(
                    f"LPM01A on {self.port}: no answer to {what} within {self.timeout:g} s "
                    "(is the X-NUCLEO-LPM01A powered, on this port, at 3686400 baud?)"
                )
            try:
                chunk = self.ser.read(4096)
            except OSError as exc:
                raise MonitorError(f"LPM01A on {self.port}: serial port failed during {what}: {exc}") from exc
            self._buf += chunk

    def command(self, cmd: str) -> list[str]:
        """Send one command; return the lines before its `ack`, raise on `error`."""
        self.ser.write(cmd.encode("ascii") + b"\r\n")
        self.ser.flush()
        deadline = time.monotonic() + self.timeout
        out: list[str] = []
        while True:
            ln = self._readline(deadline, f"'{cmd}'")
            body = ln[len(LPM_PROMPT) :] if ln.startswith(LPM_PROMPT) else ln
            if body.startswith("ack") and cmd.split()[0] in body:
                out.append(body[3:].replace(cmd, "", 1).strip())
                return [o for o in out if o]
            if body.startswith("error"):
                detail = body
                try:
                    nxt = self._readline(time.monotonic() + 0.5, f"'{cmd}' error detail")
                    if nxt.replace(LPM_PROMPT, "").startswith("Error detail"):
                        detail = nxt.replace(LPM_PROMPT, "").split(":", 1)[-1].strip()
                except MonitorError:
                    pass
                raise MonitorError(f"LPM01A on {self.port}: '{cmd}' refused: {detail}")
            if body:
                out.append(body)

    def setup(self, volts: float = 3.0, freq: str = "1k", trigger: str = "d7") -> None:
        """Host control, supply voltage, energy output in ascii_dec at `freq`, trigger source."""
        self.command("htc")
        self.command(f"volt {int(round(volts * 1000))}m")
        self.command("output energy")
        self.command("format ascii_dec")
        self.command(f"freq {freq}")
        self.command(f"trigsrc {trigger}")
        self.command("trigdelay 0")
        self.command("pwr on")
        self.freq_hz = _lpm_freq(freq)

    def start(self, seconds: float) -> None:
        """Arm one acquisition of `seconds` (starts on the trigger) and read it in a thread
        (the stream must be drained continuously: a tty buffer holds only a few KB)."""
        ms = max(1, int(round(seconds * 1000)))
        self.command(f"acqtime {ms}m")
        self.command("start")
        self._trace = LpmTrace(np.zeros(0), self.freq_hz)
        self._error = None
        self._reader = threading.Thread(target=self._read_stream, args=(seconds,), daemon=True)
        self._reader.start()

    def _read_stream(self, seconds: float) -> None:
        assert self._trace is not None
        vals: list[float] = []
        deadline = time.monotonic() + seconds + 30.0 + self.timeout  # waits for the trigger too
        try:
            while True:
                ln = self._readline(deadline, "the acquisition data")
                v = lpm_value(ln)
                if v is not None:
                    vals.append(v)
                    continue
                body = ln.replace(LPM_PROMPT, "").strip()
                if body:
                    self._trace.messages.append(body)
                if "Acquisition completed" in body:
                    self._trace.completed = True
                    break
                if body.startswith("error"):
                    raise MonitorError(f"LPM01A on {self.port}: acquisition error: {body}")
        except BaseException as exc:  # reported by collect()
            self._error = exc
        self._trace.energy_j = np.array(vals, np.float64)

    def collect(self) -> LpmTrace:
        """Wait for the acquisition to end and return it."""
        if self._reader is None or self._trace is None:
            raise MonitorError(f"LPM01A on {self.port}: no acquisition was started")
        self._reader.join()
        self._reader = None
        if self._error is not None:
            raise self._error if isinstance(self._error, MonitorError) else MonitorError(str(self._error))
        return self._trace

    def window_energy_j(self, trace: LpmTrace, seconds: float) -> float:
        """Energy of the timed window: the samples from the trigger edge over `seconds`."""
        need = int(round(seconds * trace.freq_hz))
        if trace.energy_j.size < need:
            raise MonitorError(
                f"LPM01A on {self.port}: {trace.energy_j.size} samples, the window needs {need} "
                "(acquisition cut short?)"
            )
        return float(np.sum(trace.energy_j[:need]))

    def close(self) -> None:
        try:
            self.ser.write(b"hrc\r\n")  # give the board back to its own display (no wait)
        except OSError:
            pass
        try:
            self.ser.close()
        except OSError:
            pass


def _lpm_freq(freq: str) -> float:
    m = re.match(r"^(\d+)(k?)$", freq)
    if not m:
        raise MonitorError(f"LPM01A freq '{freq}': expected one of 100k, 50k, ..., 1k, 500, ..., 1")
    return float(m.group(1)) * (1000.0 if m.group(2) else 1.0)


# ----------------------------------------------------------------------------- PPK2
class PPK2Cmd:
    """PPK2 opcodes (Nordic's nRF Connect Power Profiler protocol)."""

    AVERAGE_START = 0x06
    AVERAGE_STOP = 0x07
    DEVICE_RUNNING_SET = 0x0C
    REGULATOR_SET = 0x0D
    SET_POWER_MODE = 0x11
    GET_META_DATA = 0x19


PPK2_RATE = 100_000  # samples per second
PPK2_ADC_MULT = 1.8 / 163840


def ppk2_regulator_bytes(mv: int) -> tuple[int, int]:
    """Supply voltage -> the two REGULATOR_SET argument bytes (800 mV is 3, 32)."""
    mv = min(max(int(mv), 800), 5000)
    d = mv - 800 + 32
    return 3 + d // 256, d % 256


@dataclass
class PPK2Trace:
    """Currents (A) and logic inputs of one PPK2 acquisition at 100 kHz."""

    current_a: np.ndarray
    logic: np.ndarray  # uint8 per sample, bit k = input Dk


class PPK2:
    """Nordic PPK2 in source-meter mode (it powers the board and measures its current)."""

    name = "ppk2"

    def __init__(self, port: str | Any, timeout: float = 5.0, ampere_meter: bool = False):
        self.port = port if isinstance(port, str) else getattr(port, "name", "serial")
        self.ser = open_serial(port, 9600, "PPK2") if isinstance(port, str) else port
        self.ampere_meter = ampere_meter  # True: in series with the board's own supply
        self.timeout = timeout
        self.cal: dict[str, Any] = {
            "R": [1031.64, 101.65, 10.15, 0.94, 0.043],
            "GS": [1.0] * 5, "GI": [1.0] * 5, "O": [0.0] * 5, "S": [0.0] * 5, "I": [0.0] * 5,
            "UG": [1.0] * 5,
        }  # fmt: skip
        self.vdd_mv = 3000
        self._reader: threading.Thread | None = None
        self._raw = bytearray()
        self._stop = threading.Event()
        self._error: BaseException | None = None

    def _write(self, *b: int) -> None:
        try:
            self.ser.write(bytes(b))
            self.ser.flush()
        except OSError as exc:
            raise MonitorError(f"PPK2 on {self.port}: cannot write: {exc}") from exc

    def metadata(self) -> dict[str, str]:
        """GET_META_DATA: `key: value` lines up to `END`; calibration values are kept."""
        self._write(PPK2Cmd.GET_META_DATA)
        deadline = time.monotonic() + self.timeout
        buf = b""
        while b"END" not in buf:
            if time.monotonic() >= deadline:
                raise MonitorError(
                    f"PPK2 on {self.port}: no metadata within {self.timeout:g} s "
                    f"(received {buf[:40]!r}); is it a PPK2, powered, on this port?"
                )
            try:
                buf += self.ser.read(4096)
            except OSError as exc:
                raise MonitorError(f"PPK2 on {self.port}: serial port failed: {exc}") from exc
        text = buf[: buf.index(b"END")].decode("ascii", errors="replace")
        meta: dict[str, str] = {}
        for row in text.splitlines():
            if ": " in row:
                k, v = row.split(": ", 1)
                meta[k.strip()] = v.strip()
        for key in self.cal:
            for r in range(5):
                v = meta.get(f"{key}{r}")
                try:
                    fv = float(v) if v is not None else None
                except ValueError:
                    fv = None
                if fv is not None and not (key == "R" and fv == 0.0):
                    self.cal[key][r] = fv
        return meta

    def setup(self, volts: float = 3.0) -> dict[str, str]:
        """Metadata (calibration), then source-meter mode powering the board at `volts`, or
        ampere-meter mode (the board's own supply, `volts` being its voltage)."""
        meta = self.metadata()
        self.vdd_mv = int(round(volts * 1000))
        self._write(PPK2Cmd.SET_POWER_MODE, 1 if self.ampere_meter else 2)  # 1: ampere, 2: source
        self._write(PPK2Cmd.REGULATOR_SET, *ppk2_regulator_bytes(self.vdd_mv))
        if not self.ampere_meter:
            self._write(PPK2Cmd.DEVICE_RUNNING_SET, 1)
        return meta

    def currents(self, words: np.ndarray) -> np.ndarray:
        """Sample words -> current in A, with the calibration of each word's range."""
        adc = (words & 0x3FFF).astype(np.float64) * 4.0
        rng = np.minimum((words >> 14) & 0x7, 4).astype(np.int64)
        c = {k: np.asarray(v, np.float64)[rng] for k, v in self.cal.items()}
        x = (adc - c["O"]) * (PPK2_ADC_MULT / c["R"])
        return c["UG"] * (x * (c["GS"] * x + c["GI"]) + (c["S"] * (self.vdd_mv / 1000.0) + c["I"]))

    def start(self, seconds: float | None = None) -> None:
        """Start sampling, read in a thread until stop() (or `seconds` of samples)."""
        self._raw = bytearray()
        self._stop.clear()
        self._error = None
        self._write(PPK2Cmd.AVERAGE_START)
        limit = None if seconds is None else int(seconds * PPK2_RATE) * 4
        self._reader = threading.Thread(target=self._read, args=(limit,), daemon=True)
        self._reader.start()

    def _read(self, limit: int | None) -> None:
        last = time.monotonic()
        try:
            while not self._stop.is_set() and (limit is None or len(self._raw) < limit):
                chunk = self.ser.read(65536)
                if chunk:
                    self._raw += chunk
                    last = time.monotonic()
                elif time.monotonic() - last > self.timeout:
                    raise MonitorError(f"PPK2 on {self.port}: no samples for {self.timeout:g} s")
        except BaseException as exc:
            self._error = exc

    def stop(self) -> PPK2Trace:
        """Stop sampling; return everything received (samples in flight are drained)."""
        self._stop.set()
        try:
            self._write(PPK2Cmd.AVERAGE_STOP)
        finally:
            if self._reader is not None:
                self._reader.join()
                self._reader = None
        if self._error is not None:
            raise self._error if isinstance(self._error, MonitorError) else MonitorError(str(self._error))
        quiet_since, end = time.monotonic(), time.monotonic() + 2.0
        while time.monotonic() - quiet_since < 0.1 and time.monotonic() < end:
            try:
                chunk = self.ser.read(65536)
            except OSError as exc:
                raise MonitorError(f"PPK2 on {self.port}: serial port failed: {exc}") from exc
            if chunk:
                self._raw += chunk
                quiet_since = time.monotonic()
        n = len(self._raw) // 4
        words = np.frombuffer(bytes(self._raw[: n * 4]), "<u4")
        return PPK2Trace(self.currents(words), (words >> 24).astype(np.uint8))

    def window_energy_j(self, trace: PPK2Trace, channel: int = 0) -> tuple[float, float]:
        """(energy J, seconds) between the first two falling edges of logic input D<channel>."""
        bit = (trace.logic >> channel) & 1
        falls = np.flatnonzero((bit[:-1] == 1) & (bit[1:] == 0)) + 1
        if falls.size < 2:
            raise MonitorError(
                f"PPK2 on {self.port}: {falls.size} falling edge(s) on D{channel}, the window needs 2: "
                f"wire the board's timestamp pin to PPK2 D{channel} and build an energy-mode image"
            )
        a, b = int(falls[0]), int(falls[1])
        volts = self.vdd_mv / 1000.0
        return float(np.sum(trace.current_a[a:b]) * volts / PPK2_RATE), (b - a) / PPK2_RATE

    def close(self) -> None:
        try:
            self.ser.write(bytes([PPK2Cmd.AVERAGE_STOP]))
            self.ser.close()
        except OSError:
            pass


# ----------------------------------------------------------------------------- energy runs
@dataclass
class EnergyResult:
    """Energy per inference by MLPerf Tiny's rules; `complete` is False after a fault."""

    monitor: str
    uj_per_inference: float | None
    windows_uj: list[float]
    n_per_window: int
    window_s: float
    us_per_inference: float
    volts: float
    complete: bool = True
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        uj = self.uj_per_inference
        return {
            "energy_uj_per_inference": None if uj is None else round(uj, 3),
            "energy_source": f"measured ({self.monitor})",
            "energy_windows_uj": [round(w, 3) for w in self.windows_uj],
            "energy_inferences_per_window": self.n_per_window,
            "energy_window_s": round(self.window_s, 3),
            "energy_complete": self.complete,
            **({"energy_error": self.error} if self.error else {}),
        }


def inferences_per_window(us_per_inference: float, min_window_s: float = MIN_WINDOW_S) -> int:
    """N so that N back-to-back inferences last at least `min_window_s`."""
    if us_per_inference <= 0:
        raise TinyKWSError(f"inference time {us_per_inference} us: must be > 0")
    return max(1, int(np.ceil(min_window_s * 1e6 / us_per_inference)))


def measure_energy(
    dev: Any,
    monitor: LPM01A | PPK2,
    us_per_inference: float,
    *,
    volts: float = 3.0,
    windows: int = WINDOWS,
    min_window_s: float = MIN_WINDOW_S,
    timeout: float | None = None,
) -> EnergyResult:
    """µJ per inference: `windows` windows of N inferences (≥ min_window_s each) between the
    timestamp edges, energy / N each, median. A fault keeps the windows already measured and
    returns the result marked incomplete (the caller writes it to the JSON)."""
    n = inferences_per_window(us_per_inference, min_window_s)
    window_s = n * us_per_inference / 1e6
    res = EnergyResult(monitor.name, None, [], n, window_s, us_per_inference, volts)
    try:
        if isinstance(monitor, LPM01A):
            monitor.setup(volts=volts, trigger="d7")
        else:
            monitor.setup(volts=volts)
        for _ in range(windows):
            if isinstance(monitor, LPM01A):
                monitor.start(window_s)
                dev.command(f"infer {n} 0", timeout=timeout or window_s * 2 + 30)
                e = monitor.window_energy_j(monitor.collect(), window_s)
            else:
                monitor.start()
                dev.command(f"infer {n} 0", timeout=timeout or window_s * 2 + 30)
                e, _ = monitor.window_energy_j(monitor.stop())
            res.windows_uj.append(e * 1e6 / n)
    except TinyKWSError as exc:
        res.complete = False
        res.error = str(exc)
    if res.windows_uj:
        res.uj_per_inference = float(statistics.median(res.windows_uj))
    return res


def always_on_uw(
    uj_per_inference: float, us_per_inference: float, rate_hz: float, sleep_ua: float, volts: float
) -> float:
    """Average power (µW) of a board that runs `rate_hz` inferences per second and sleeps
    in between: active energy per second plus the sleep current for the remaining time."""
    busy = rate_hz * us_per_inference / 1e6
    if busy > 1.0:
        raise TinyKWSError(
            f"--rate {rate_hz:g}/s: one inference takes {us_per_inference / 1000:.1f} ms, "
            f"at most {1e6 / us_per_inference:.1f} inferences per second fit"
        )
    return uj_per_inference * rate_hz + volts * sleep_ua * (1.0 - busy)
