"""Lepton commands through PureThermal UVC extension units (io/lepton_uvc): the unit and
selector of each command, the bytes of each ioctl request, answers and refusals, against a
fake uvcvideo ioctl that plays a Lepton."""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

from thermal_perception.io import lepton_uvc as lu


def test_units_selectors_and_ioctl_number():
    """Known answers from the documented mapping: unit by module, selector (id & 0xff) >> 2
    + 1; UVCIOC_CTRL_QUERY = _IOWR('u', 0x21, 16-byte struct) on 64-bit Linux."""
    assert lu.unit_and_selector(lu.SYS_RUN_FFC) == (6, 17)
    assert lu.unit_and_selector(lu.RAD_TLINEAR_ENABLE_STATE) == (5, 49)
    assert lu.unit_and_selector(lu.RAD_TLINEAR_RESOLUTION) == (5, 50)
    assert lu.unit_and_selector(0x0100) == (3, 1)        # AGC enable
    assert lu.unit_and_selector(0x4800 | 0x1C) == (4, 8)  # OEM bit masked: OEM part number
    with pytest.raises(ValueError, match="no PureThermal extension unit"):
        lu.unit_and_selector(0x0700)
    if ctypes.sizeof(ctypes.c_void_p) == 8:
        assert ctypes.sizeof(lu._XuQuery) == 16 and lu.UVCIOC_CTRL_QUERY == 0xC0107521


class FakeLepton:
    """uvcvideo's UVCIOC_CTRL_QUERY as a PureThermal Lepton would answer it."""

    def __init__(self, fail: int | None = None) -> None:
        self.state = {(5, 49): 0, (5, 50): 0}  # TLinear off, 0.1 K
        self.ffc_runs = 0
        self.requests: list[tuple[int, int, int, bytes]] = []
        self.fail = fail
        self.open_fds = 0

    def open(self, path: str) -> int:
        self.open_fds += 1
        return 42

    def close(self, fd: int) -> None:
        assert fd == 42
        self.open_fds -= 1

    def ioctl(self, fd: int, request: int, q) -> int:
        assert fd == 42 and request == lu.UVCIOC_CTRL_QUERY
        data = bytes(q.data[i] for i in range(q.size))
        self.requests.append((q.unit, q.selector, q.query, data))
        if self.fail:
            raise OSError(self.fail, "fake failure")
        key = (q.unit, q.selector)
        if key == (6, 17) and q.query == lu.UVC_SET_CUR:
            assert data == bytes([17])  # RUN: one byte, the selector
            self.ffc_runs += 1
        elif key in self.state and q.query == lu.UVC_SET_CUR:
            assert q.size == 4
            self.state[key] = struct.unpack("<I", data)[0]
        elif key in self.state and q.query == lu.UVC_GET_CUR:
            assert q.size == 4
            for i, b in enumerate(struct.pack("<I", self.state[key])):
                q.data[i] = b
        else:
            raise OSError(errno.ENOENT, "no such control")
        return 0


def control(fake: FakeLepton) -> lu.LeptonUvcControl:
    return lu.LeptonUvcControl("/dev/video7", ioctl=fake.ioctl, opener=fake.open,
                               closer=fake.close)


def test_ffc_and_tlinear_through_the_extension_units():
    fake = FakeLepton()
    c = control(fake)
    ok, message = c.run_ffc()
    assert ok and fake.ffc_runs == 1 and "SYS RUN FFC" in message
    assert fake.requests[-1] == (6, 17, lu.UVC_SET_CUR, bytes([17]))
    assert c.tlinear() == (False, 0.1)
    c.set_tlinear(True, 0.01)
    assert fake.state == {(5, 49): 1, (5, 50): 1}
    assert c.tlinear() == (True, 0.01)
    assert fake.requests[-4][:3] == (5, 50, lu.UVC_SET_CUR)  # resolution set before enable
    c.set_tlinear(False)
    assert c.tlinear() == (False, 0.01)
    with pytest.raises(ValueError, match=r"0\.01 or 0\.1"):
        c.set_tlinear(True, 0.05)
    assert fake.open_fds == 0  # every request closes what it opened


@pytest.mark.parametrize("code, words", [(errno.ENOENT, "no such extension unit"),
                                         (errno.ENOTTY, "does not take UVC extension"),
                                         (errno.EACCES, "permission denied")])
def test_refusals_say_why(code, words):
    fake = FakeLepton(fail=code)
    ok, message = control(fake).run_ffc()
    assert not ok and "0x0242" in message and "/dev/video7" in message and words in message
    with pytest.raises(lu.LeptonControlError, match=words):
        control(fake).tlinear()
    assert fake.open_fds == 0


def test_a_missing_device_is_a_clear_error(tmp_path):
    ok, message = lu.LeptonUvcControl(tmp_path / "video99").run_ffc()
    assert not ok and "cannot open" in message
