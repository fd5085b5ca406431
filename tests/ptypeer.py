"""Stand-ins on pseudo-terminals for things no test machine has attached: power monitors and
boards running tinykws firmware. The code under test opens `peer.path` like a serial port."""

from __future__ import annotations

import os
import select
import threading
import time


class Peer(threading.Thread):
    """A pseudo-terminal whose far end runs `handle(data) -> bytes` on each read."""

    def __init__(self):
        super().__init__(daemon=True)
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave
        self.stopped = threading.Event()
        self.received = bytearray()

    def run(self) -> None:
        # once close() is called, what the far end wrote before it is still read and handled
        # (a client's last command, e.g. a monitor's stop on close, must not be lost to the
        # poll interval); replies are no longer sent then
        while True:
            stopping = self.stopped.is_set()
            r, _, _ = select.select([self.master], [], [], 0.0 if stopping else 0.02)
            if not r:
                if stopping:
                    return
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            self.received += data
            out = self.handle(data)
            if out and not stopping:
                self.send(out)

    def send(self, out: bytes) -> None:
        view = memoryview(out)
        while view:
            try:
                n = os.write(self.master, view[:1024])
            except BlockingIOError:
                time.sleep(0.001)
                continue
            view = view[n:]

    def handle(self, data: bytes) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(timeout=2)
        os.close(self.master)
        os.close(self._slave)


class BoardPeer(Peer):
    """The firmware's side of the EnergyRunner protocol: commands end with `%`, every reply
    ends with `m-ready`. Subclasses answer in `command(cmd) -> lines`; `cmds` records them."""

    def __init__(self):
        super().__init__()
        self.cmds: list[str] = []
        self._line = b""

    def handle(self, data: bytes) -> bytes:
        out = b""
        for ch in data:
            if ch != ord("%"):
                self._line += bytes([ch])
                continue
            cmd, self._line = self._line.decode(), b""
            self.cmds.append(cmd)
            out += "".join(ln + "\r\n" for ln in (*self.command(cmd), "m-ready")).encode()
        return out

    def command(self, cmd: str) -> list[str]:
        raise NotImplementedError
