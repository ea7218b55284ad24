"""The firmware on a board (or anything else) behind a pyserial URL: /dev/ttyACM0 (the
S32K144EVB's OpenSDA port), socket://host:port, rfc2217://host:port, a pty, loop://.

On open it sends a delimiter (the board may be mid-frame from an earlier session) and a
HELLO request, and refuses a device whose answer is not this firmware's HELLO or whose
structs differ from this host's build (see remote.check_hello). Cycle counts are core
cycles (the board's DWT or SysTick counter)."""

from __future__ import annotations

from bms.targets.base import TargetError
from hil.link import Link, SerialStream
from hil.protocol import Msg, ProtocolError
from hil.targets.remote import RemoteTarget


class SerialTarget(RemoteTarget):
    def __init__(
        self,
        url: str,
        baudrate: int = 115200,
        reply_timeout_s: float = 3.0,
        expect_source_hash: int | None = None,
    ) -> None:
        stream = SerialStream(url, baudrate)
        link = Link(stream, reply_timeout_s=reply_timeout_s)
        try:
            link.send_raw(b"\x00")
            try:
                hello = link.request(Msg.HELLO)
            except ProtocolError as exc:
                raise TargetError(
                    f"{url}: the device's answer to HELLO is not this firmware's ({exc})"
                ) from None
            except TargetError as exc:
                raise TargetError(f"{url}: no firmware answered HELLO ({exc})") from None
            super().__init__(link, f"serial:{url}", hello=hello, expect_source_hash=expect_source_hash)
            link.restarts = 0  # a boot HELLO sent just before we connected is not a restart
        except BaseException:
            stream.close()
            raise
