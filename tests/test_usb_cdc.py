"""The portable USB device + CDC-ACM layer (firmware/usb), compiled with the host's gcc into a
shared library with a small C driver that records the port hooks, and driven with SETUP packets
the way a host enumerates and uses a CDC-ACM serial port: descriptors checked against USB 2.0
chapter 9 and CDC/PSTN 1.2, control requests, the byte rings and the Arduino 1200-baud touch.

This portable layer is what runs here against the specifications; the nRF52840 register glue
that calls it (firmware/ports/nano33/link_usb_nano33.c) is compiled by tests/test_nano33.py,
exercised against a register model by tests/test_nano33_usbd_model.py, and has not been run on
hardware."""

from __future__ import annotations

import ctypes
import itertools
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USB = ROOT / "firmware" / "usb"
GLUE = ROOT / "firmware" / "ports" / "nano33" / "link_usb_nano33.c"

STALL, IN, OUT, STATUS, ADDRESS = range(5)
_COPIES = itertools.count()
SERIAL = bytes([0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0])

DRIVER = r"""
#include <string.h>
#include "tk_usb.h"

int n_touch, n_configured, last_config = -1, n_stall, last_stall_ep, last_stall_on;
static void configured(uint8_t config) { n_configured++; last_config = config; }
static void stall(uint8_t ep, int on) { n_stall++; last_stall_ep = ep; last_stall_on = on; }
static void touch1200(void) { n_touch++; }
static const struct tkusb_port drv_port = {configured, stall, touch1200};

void drv_init(const uint8_t serial[8]) { tkusb_init(serial, &drv_port); }

/* One SETUP packet: the action, and for IN the reply copied into out (len, zlp). */
int drv_setup(const uint8_t raw[8], uint8_t *out, int *len, int *zlp)
{
    struct tkusb_setup s;
    struct tkusb_reply r;
    enum tkusb_ctrl a;
    tkusb_setup_parse(raw, &s);
    a = tkusb_setup(&s, &r);
    *len = -1;
    *zlp = 0;
    if (a == TKUSB_CTRL_IN) {
        memcpy(out, r.data, r.len);
        *len = r.len;
        *zlp = r.zlp;
    }
    return (int)a;
}

int drv_const(int which)
{
    switch (which) {
    case 0: return TKUSB_EP_NOTIF_IN;
    case 1: return TKUSB_EP_DATA_OUT;
    case 2: return TKUSB_EP_DATA_IN;
    case 3: return TKUSB_VID;
    case 4: return TKUSB_PID;
    case 5: return TKUSB_TX_RING;
    case 6: return TKUSB_RX_RING;
    default: return -1;
    }
}
"""

CFLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-fPIC"]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    d = tmp_path_factory.mktemp("usb")
    (d / "driver.c").write_text(DRIVER)
    objs = []
    for src in [*sorted(USB.glob("*.c")), d / "driver.c"]:
        obj = d / (src.stem + ".o")
        subprocess.run(["gcc", *CFLAGS, f"-I{USB}", "-c", str(src), "-o", str(obj)], check=True)
        objs.append(obj)
    lib = d / "libtkusb.so"
    subprocess.run(["gcc", "-shared", "-o", str(lib), *map(str, objs)], check=True)
    return d, lib


@pytest.fixture
def usb(build):
    """A fresh device: the library loaded anew (its static state is per load) and initialized."""
    d, lib = build
    # dlopen returns the already-loaded library for the same path: a copy per test gives each
    # test fresh static state
    copy = d / f"lib{next(_COPIES)}.so"
    shutil.copy(lib, copy)
    dev = Device(ctypes.CDLL(str(copy)))
    dev.lib.drv_init(SERIAL)
    return dev


class Device:
    def __init__(self, lib):
        self.lib = lib
        lib.tkusb_cdc_getc.restype = ctypes.c_int
        lib.tkusb_cdc_putc.restype = ctypes.c_int
        lib.tkusb_cdc_putc.argtypes = [ctypes.c_uint8]
        lib.tkusb_cdc_tx_next.restype = ctypes.c_int
        lib.tkusb_cdc_rx_free.restype = ctypes.c_uint32
        lib.tkusb_cdc_rx_push.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
        lib.tkusb_ctrl_out.argtypes = [ctypes.c_char_p, ctypes.c_uint16]
        lib.tkusb_cdc_baud.restype = ctypes.c_uint32

    def hook(self, name: str) -> int:
        return ctypes.c_int.in_dll(self.lib, name).value

    def const(self, i: int) -> int:
        return self.lib.drv_const(i)

    def setup(self, bm: int, req: int, value: int = 0, index: int = 0, length: int = 0):
        raw = struct.pack("<BBHHH", bm, req, value, index, length)
        out = ctypes.create_string_buffer(512)
        n, zlp = ctypes.c_int(), ctypes.c_int()
        action = self.lib.drv_setup(raw, out, ctypes.byref(n), ctypes.byref(zlp))
        return action, (out.raw[: n.value] if action == IN else None), zlp.value

    def get_descriptor(self, dtype: int, index: int = 0, length: int = 255, langid: int = 0):
        return self.setup(0x80, 6, (dtype << 8) | index, langid, length)

    def ctrl_out(self, data: bytes) -> int:
        return self.lib.tkusb_ctrl_out(data, len(data))

    def enumerate(self):
        assert self.setup(0x00, 5, 7)[0] == ADDRESS
        assert self.setup(0x00, 9, 1)[0] == STATUS

    def set_line_coding(self, baud: int, stop: int = 0, parity: int = 0, bits: int = 8) -> int:
        action = self.setup(0x21, 0x20, 0, 0, 7)[0]
        assert action == OUT
        return self.ctrl_out(struct.pack("<IBBB", baud, stop, parity, bits))

    def set_line_state(self, dtr: bool, rts: bool = True) -> int:
        return self.setup(0x21, 0x22, int(dtr) | (int(rts) << 1), 0, 0)[0]

    def open_port(self):
        """What a terminal program does: configure, raise DTR."""
        self.enumerate()
        assert self.set_line_state(True) == STATUS

    def drain_in(self) -> list[bytes]:
        """IN packets until the device has nothing more to send (b'' is a zero-length packet)."""
        pkts = []
        buf = ctypes.create_string_buffer(64)
        while (n := self.lib.tkusb_cdc_tx_next(buf)) >= 0:
            pkts.append(buf.raw[:n])
            assert len(pkts) < 1000
        return pkts


def walk(desc: bytes) -> list[bytes]:
    """Split a configuration descriptor set into its descriptors by bLength."""
    out, i = [], 0
    while i < len(desc):
        n = desc[i]
        assert n >= 2, f"descriptor at {i} has bLength {n}"
        assert i + n <= len(desc), f"descriptor at {i} runs past the end"
        out.append(desc[i : i + n])
        i += n
    return out


def test_no_heap_and_constant_descriptors(build):
    d, _ = build
    undefined, defined = set(), set()
    for src in sorted(USB.glob("*.c")):
        syms = subprocess.run(["nm", str(d / (src.stem + ".o"))], capture_output=True, text=True, check=True)
        for ln in syms.stdout.splitlines():
            (undefined if ln.split()[-2] == "U" else defined).add(ln.split()[-1])
    # the layer needs nothing from the C library (no malloc, no memcpy), and nothing from its
    # port either: it calls the port only through the struct tkusb_port given to tkusb_init
    needed = undefined - defined - {"_GLOBAL_OFFSET_TABLE_"}
    assert needed == set()
    syms = subprocess.run(["nm", str(d / "usb_desc.o")], capture_output=True, text=True, check=True).stdout
    assert re.search(r" R tkusb_device_desc$", syms, re.M) and re.search(r" R tkusb_config_desc$", syms, re.M)


def test_device_descriptor(usb):
    action, dev, zlp = usb.get_descriptor(1, length=64)
    assert action == IN and len(dev) == 18 and zlp == 0
    (bl, bt, bcd_usb, cls, sub, proto, mps0, vid, pid, bcd_dev, imf, ipr, isn, ncfg) = struct.unpack(
        "<BBHBBBBHHHBBBB", dev
    )
    assert (bl, bt, bcd_usb) == (18, 1, 0x0200)
    assert (cls, sub, proto) == (0xEF, 0x02, 0x01)  # Multi-interface Function: the host reads the IAD
    assert mps0 == 64 and (vid, pid) == (0x2341, 0x805A) == (usb.const(3), usb.const(4))
    assert bcd_dev == 0x0100 and ncfg == 1 and (imf, ipr, isn) == (1, 2, 3)


def _string(usb, index: int) -> str:
    action, s, _ = usb.get_descriptor(3, index, 255, 0x0409)
    assert action == IN and s[0] == len(s) and s[1] == 3 and len(s) % 2 == 0
    return s[2:].decode("utf-16-le")


def test_string_descriptors(usb):
    action, lang, _ = usb.get_descriptor(3, 0)
    assert action == IN and lang == bytes([4, 3, 0x09, 0x04])  # English (US)
    assert _string(usb, 1) == "tinykws"
    assert "Nano 33 BLE" in _string(usb, 2)
    assert _string(usb, 3) == SERIAL.hex().upper()
    assert usb.get_descriptor(3, 4)[0] == STALL
    # a full-speed-only device refuses DEVICE_QUALIFIER and OTHER_SPEED_CONFIGURATION (USB 2.0 9.6.2)
    assert usb.get_descriptor(6, length=10)[0] == STALL
    assert usb.get_descriptor(7, length=10)[0] == STALL


def test_configuration_descriptor_is_well_formed(usb):
    action, cfg, zlp = usb.get_descriptor(2, length=0xFFFF)
    assert action == IN and zlp == 0  # 75 bytes: the last packet (11 bytes) is short, no ZLP
    descs = walk(cfg)
    head = descs[0]
    assert head[0] == 9 and head[1] == 2
    total, n_if, cfg_value, _icfg, attrs, power = struct.unpack("<HBBBBB", head[2:9])
    assert total == len(cfg) == 75 == sum(len(x) for x in descs)
    assert cfg_value == 1 and attrs & 0x80 and not attrs & 0x1F and 0 < power <= 250

    interfaces = [x for x in descs if x[1] == 4]
    assert n_if == len({x[2] for x in interfaces}) == 2
    # the IAD comes before the interfaces it groups and names the CDC ACM function
    iad_pos = next(i for i, x in enumerate(descs) if x[1] == 0x0B)
    iad = descs[iad_pos]
    assert len(iad) == 8 and iad_pos < descs.index(interfaces[0])
    assert (iad[2], iad[3], iad[4], iad[5]) == (0, 2, 0x02, 0x02)

    # interface -> its endpoints (descriptors up to the next interface)
    eps: dict[int, list[bytes]] = {}
    current = None
    for x in descs:
        if x[1] == 4:
            current = x[2]
            eps[current] = []
        elif x[1] == 5:
            assert len(x) == 7
            eps[current].append(x)
    comm, data = interfaces
    assert len(comm) == len(data) == 9
    assert (comm[2], comm[5], comm[6]) == (0, 0x02, 0x02) and comm[4] == len(eps[0]) == 1
    assert (data[2], data[5], data[6]) == (1, 0x0A, 0x00) and data[4] == len(eps[1]) == 2

    # class-specific functional descriptors (CDC 1.2 5.2.3, PSTN 1.2 5.3), between comm and its endpoint
    cs = {x[2]: x for x in descs if x[1] == 0x24}
    assert set(cs) == {0x00, 0x01, 0x02, 0x06}
    assert len(cs[0x00]) == 5 and struct.unpack("<H", cs[0x00][3:5])[0] == 0x0120  # header, bcdCDC 1.20
    assert len(cs[0x01]) == 5 and cs[0x01][4] == 1  # call management: data interface 1
    assert len(cs[0x02]) == 4 and cs[0x02][3] == 0x02  # ACM: line coding + control line state
    assert len(cs[0x06]) == 5 and (cs[0x06][3], cs[0x06][4]) == (0, 1)  # union: control 0, data 1
    assert descs.index(cs[0x00]) == descs.index(comm) + 1  # the header comes first

    (notif,) = eps[0]
    addr, attr, mps, interval = struct.unpack("<BBHB", notif[2:7])
    assert addr == 0x81 == usb.const(0) and attr == 0x03 and 0 < mps <= 64 and 1 <= interval <= 255
    bulk = {x[2]: struct.unpack("<BBHB", x[2:7]) for x in eps[1]}
    assert set(bulk) == {0x02, 0x82} == {usb.const(1), usb.const(2)}
    for _addr, attr, mps, interval in bulk.values():
        assert attr == 0x02 and mps == 64 and interval == 0  # full-speed bulk: 8/16/32/64
    # the nano33 glue enables the endpoints by these names, not by numbers of its own
    glue = GLUE.read_text()
    for name in ("TKUSB_EP_DATA", "TKUSB_EP_NOTIF"):
        assert name in glue


def test_get_descriptor_honours_wlength(usb):
    action, cfg9, zlp = usb.get_descriptor(2, length=9)  # what hosts ask first: the header only
    assert action == IN and len(cfg9) == 9 and cfg9[:2] == b"\x09\x02" and zlp == 0
    _, full, _ = usb.get_descriptor(2, length=255)
    assert cfg9 == full[:9]
    assert struct.unpack("<H", cfg9[2:4])[0] == len(full)
    action, dev8, _ = usb.get_descriptor(1, length=8)  # the first 8 bytes give bMaxPacketSize0
    assert len(dev8) == 8 and dev8[7] == 64
    action, cfg64, zlp = usb.get_descriptor(2, length=64)
    assert len(cfg64) == 64 and zlp == 0  # exactly what was asked: no ZLP needed
    action, s, _ = usb.get_descriptor(3, 1, 4, 0x0409)
    assert len(s) == 4 and s[0] > 4  # truncated, bLength still tells the full size


def test_standard_requests_and_hooks(usb):
    assert usb.setup(0x80, 8, 0, 0, 1)[:2] == (IN, b"\x00")  # GET_CONFIGURATION: Address state
    assert usb.setup(0x80, 0, 0, 0, 2)[:2] == (IN, b"\x00\x00")  # GET_STATUS device: bus powered
    assert usb.setup(0x00, 5, 7)[0] == ADDRESS and usb.lib.tkusb_address() == 7
    assert usb.setup(0x00, 5, 200)[0] == STALL  # addresses are 7 bits
    assert usb.setup(0x00, 9, 2)[0] == STALL and usb.hook("n_configured") == 0
    assert usb.setup(0x21, 0x22, 1)[0] == STALL  # class requests need a configuration
    assert usb.setup(0x00, 9, 1)[0] == STATUS
    assert (usb.hook("n_configured"), usb.hook("last_config")) == (1, 1)
    assert usb.setup(0x80, 8, 0, 0, 1)[:2] == (IN, b"\x01")
    assert usb.setup(0x81, 0, 0, 1, 2)[:2] == (IN, b"\x00\x00")  # GET_STATUS interface 1
    assert usb.setup(0x81, 0, 0, 2, 2)[0] == STALL  # no interface 2
    assert usb.setup(0x01, 11, 0, 1)[0] == STATUS and usb.setup(0x01, 11, 1, 1)[0] == STALL  # alt settings
    # endpoint halt on 0x82: the hook stalls it, GET_STATUS reports it, CLEAR_FEATURE undoes it
    assert usb.setup(0x02, 3, 0, 0x82)[0] == STATUS
    assert (usb.hook("last_stall_ep"), usb.hook("last_stall_on")) == (0x82, 1)
    assert usb.setup(0x82, 0, 0, 0x82, 2)[1] == b"\x01\x00"
    assert usb.setup(0x82, 0, 0, 0x02, 2)[1] == b"\x00\x00"
    assert usb.setup(0x02, 1, 0, 0x82)[0] == STATUS
    assert (usb.hook("last_stall_ep"), usb.hook("last_stall_on"), usb.hook("n_stall")) == (0x82, 0, 2)
    assert usb.setup(0x82, 0, 0, 0x82, 2)[1] == b"\x00\x00"
    assert usb.setup(0x02, 3, 0, 0x83)[0] == STALL and usb.hook("n_stall") == 2  # not our endpoint
    assert usb.setup(0x00, 3, 1)[0] == STALL  # remote wakeup: not offered
    assert usb.setup(0x40, 1)[0] == STALL  # vendor request
    # SET_CONFIGURATION 0 and a bus reset both unconfigure (the hook hears it)
    assert usb.setup(0x00, 9, 0)[0] == STATUS and usb.hook("last_config") == 0
    assert usb.setup(0x00, 9, 1)[0] == STATUS and usb.hook("last_config") == 1
    usb.lib.tkusb_bus_reset()
    assert usb.lib.tkusb_configuration() == 0 and usb.lib.tkusb_address() == 0
    assert usb.hook("last_config") == 0


def test_line_coding_round_trip(usb):
    usb.enumerate()
    action, lc, _ = usb.setup(0xA1, 0x21, 0, 0, 7)
    assert action == IN and struct.unpack("<IBBB", lc) == (115200, 0, 0, 8)  # default 115200 8N1
    assert usb.set_line_coding(57600, stop=2, parity=2, bits=7) == STATUS
    action, lc, _ = usb.setup(0xA1, 0x21, 0, 0, 7)
    assert struct.unpack("<IBBB", lc) == (57600, 2, 2, 7) and usb.lib.tkusb_cdc_baud() == 57600
    # wrong lengths and a data stage nobody asked for are refused; the coding stays
    assert usb.setup(0x21, 0x20, 0, 0, 6)[0] == STALL
    assert usb.ctrl_out(struct.pack("<IBBB", 9600, 0, 0, 8)) == STALL
    assert usb.setup(0x21, 0x20, 0, 1, 7)[0] == STALL  # the data interface has no class requests
    assert usb.setup(0xA1, 0x21, 0, 0, 7)[1] == lc
    assert usb.setup(0x21, 0x23, 100)[0] == STALL  # SEND_BREAK: not in bmCapabilities


def test_bytes_written_come_out_of_the_in_path_in_order(usb):
    assert usb.lib.tkusb_cdc_putc(0x41) == -1  # not configured: dropped, like a UART with no listener
    usb.enumerate()
    assert usb.lib.tkusb_cdc_putc(0x41) == -1  # configured, DTR low: still no terminal
    assert usb.drain_in() == []
    assert usb.set_line_state(True) == STATUS and usb.lib.tkusb_cdc_connected() == 1
    msg = bytes(range(200))
    assert all(usb.lib.tkusb_cdc_putc(b) == 0 for b in msg)
    pkts = usb.drain_in()
    assert [len(p) for p in pkts] == [64, 64, 64, 8] and b"".join(pkts) == msg
    # a transfer that ends on a full packet is closed by a zero-length packet
    assert all(usb.lib.tkusb_cdc_putc(b) == 0 for b in msg[:128])
    pkts = usb.drain_in()
    assert [len(p) for p in pkts] == [64, 64, 0] and b"".join(pkts) == msg[:128]
    # a full ring refuses (the caller waits), then drains in order
    ring = usb.const(5)
    results = [usb.lib.tkusb_cdc_putc(i & 0xFF) for i in range(ring + 3)]
    assert results[:ring] == [0] * ring and results[ring:] == [-2, -2, -2]
    assert b"".join(usb.drain_in()) == bytes(i & 0xFF for i in range(ring))
    # DTR dropped (terminal closed): what was queued is discarded
    usb.lib.tkusb_cdc_putc(0x55)
    assert usb.set_line_state(False) == STATUS and usb.drain_in() == []


def test_bytes_fed_to_out_come_back_from_getc(usb):
    usb.open_port()
    size = usb.const(6)
    assert usb.lib.tkusb_cdc_getc() == -1 and usb.lib.tkusb_cdc_rx_free() == size
    data = bytes((i * 7 + 3) & 0xFF for i in range(300))
    for i in range(0, len(data), 64):
        usb.lib.tkusb_cdc_rx_push(data[i : i + 64], len(data[i : i + 64]))
    assert usb.lib.tkusb_cdc_rx_free() == size - 300
    got = bytes(usb.lib.tkusb_cdc_getc() for _ in range(300))
    assert got == data and usb.lib.tkusb_cdc_getc() == -1 and usb.lib.tkusb_cdc_rx_free() == size
    # more than fits: the ring keeps what fits (the glue only pushes when a packet fits)
    usb.lib.tkusb_cdc_rx_push(bytes(size + 10), size + 10)
    assert usb.lib.tkusb_cdc_rx_free() == 0
    usb.lib.tkusb_bus_reset()
    assert usb.lib.tkusb_cdc_getc() == -1 and usb.lib.tkusb_cdc_rx_free() == size


def test_1200_baud_touch_calls_the_reboot_hook_exactly_when_it_should(usb):
    usb.open_port()
    # an ordinary session: 115200, DTR up and down
    assert usb.set_line_coding(115200) == STATUS
    assert usb.set_line_state(True) == STATUS and usb.set_line_state(False) == STATUS
    assert usb.hook("n_touch") == 0
    # 1200 baud with DTR high: not yet (pyserial opens with DTR high, then drops it)
    assert usb.set_line_coding(1200) == STATUS
    assert usb.set_line_state(True) == STATUS and usb.hook("n_touch") == 0
    # ... then DTR low: the touch
    assert usb.set_line_state(False) == STATUS and usb.hook("n_touch") == 1
    # back to another rate: dropping DTR again is no touch
    assert usb.set_line_coding(9600) == STATUS
    assert usb.set_line_state(True) == STATUS and usb.set_line_state(False) == STATUS
    assert usb.hook("n_touch") == 1
    # setting 1200 alone (DTR already low, no line-state request) is no touch either
    assert usb.set_line_coding(1200) == STATUS and usb.hook("n_touch") == 1


def test_touch_needs_dtr_low_not_rts(usb):
    usb.open_port()
    assert usb.set_line_coding(1200) == STATUS
    assert usb.set_line_state(True, rts=False) == STATUS and usb.hook("n_touch") == 0
    assert usb.set_line_state(False, rts=True) == STATUS and usb.hook("n_touch") == 1
