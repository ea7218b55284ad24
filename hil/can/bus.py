"""python-can buses by name, as `--target can:...` takes them.

    virtual[:CHANNEL]            python-can's in-process bus (default; no kernel needed)
    udp_multicast[:GROUP]        frames over IP multicast: other processes on the machine share them
    socketcan:IFACE              a Linux SocketCAN interface (vcan0, can0)
    slcan:URL_A,URL_B            two serial-line CAN adapters (Lawicel/CANable) on any pyserial URL,
                                 wired to the same bus: the bench's partners on A, the BMS on B

The bench needs two ends on one bus: the BMS (ECU) and its partners (charger, vehicle). On a
shared medium (virtual, udp_multicast, socketcan) both ends open the same channel; a serial
adapter is one node's port, so slcan takes one URL per end.
"""

from __future__ import annotations

from dataclasses import dataclass

import can

from hil.can.codec import CanError

BITRATE = 500_000  # the DBC's Baudrate attribute
DEFAULT_VIRTUAL = "bms-bench"


@dataclass(frozen=True)
class BusSpec:
    interface: str
    harness_channel: str
    ecu_channel: str

    def describe(self) -> str:
        if self.harness_channel == self.ecu_channel:
            return f"{self.interface}:{self.harness_channel}"
        return f"{self.interface}:{self.harness_channel},{self.ecu_channel}"


def parse_bus(spec: str) -> BusSpec:
    """'virtual', 'virtual:name', 'udp_multicast[:group]', 'socketcan:vcan0', 'slcan:URL_A,URL_B'."""
    interface, _, channel = spec.partition(":")
    if interface == "virtual":
        ch = channel or DEFAULT_VIRTUAL
        return BusSpec(interface, ch, ch)
    if interface == "udp_multicast":
        from can.interfaces.udp_multicast import UdpMulticastBus

        ch = channel or UdpMulticastBus.DEFAULT_GROUP_IPv4
        return BusSpec(interface, ch, ch)
    if interface == "socketcan":
        if not channel:
            raise CanError("socketcan needs an interface: can:socketcan:vcan0")
        return BusSpec(interface, channel, channel)
    if interface == "slcan":
        urls = [u for u in channel.split(",") if u]
        if len(urls) != 2:
            raise CanError(
                "slcan needs two adapters on one bus, the partners' and the BMS's: can:slcan:URL_A,URL_B "
                "(any pyserial URL, e.g. /dev/ttyACM0 or socket://host:port)"
            )
        return BusSpec(interface, urls[0], urls[1])
    raise CanError(
        f"unknown CAN bus '{spec}': use virtual, udp_multicast, socketcan:IFACE or slcan:URL_A,URL_B"
    )


def open_bus(interface: str, channel: str) -> can.BusABC:
    """One end of the bus (no own messages echoed back)."""
    try:
        if interface == "virtual":
            return can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        if interface == "udp_multicast":
            return can.Bus(interface="udp_multicast", channel=channel, receive_own_messages=False)
        if interface == "socketcan":
            return can.Bus(interface="socketcan", channel=channel, receive_own_messages=False)
        if interface == "slcan":
            # a socket:// or rfc2217:// adapter is ready at once; a USB adapter resets on open
            settle_s = 0.0 if "://" in channel else 2.0
            return can.Bus(interface="slcan", channel=channel, bitrate=BITRATE, sleep_after_open=settle_s)
    except (can.CanError, OSError, ValueError) as exc:
        raise CanError(f"cannot open CAN {interface}:{channel}: {exc}") from None
    raise CanError(f"unknown CAN interface '{interface}'")
