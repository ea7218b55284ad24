"""The firmware on an emulated Cortex-M4F: `qemu-system-arm -M mps2-an386`.

QemuTarget takes an ELF (the `elf` argument, else $BMS_FIRMWARE_ELF; it never builds one:
`make firmware` or hil.provision.build_firmware does), listens on a free loopback port
and starts QEMU with the board's UART0 connected to it (QEMU connects out, so no port is
ever guessed; TCP_NODELAY on both ends), UART1 to a console log file, and semihosting on
(the firmware's fault handler exits QEMU with it). It waits for the boot
HELLO and checks it against this host's build (struct layout, sizeof(bms_config_t), and the
source hash where `expect_source_hash` is given).

Every wait has a timeout and also watches the process: a QEMU that dies fails the call at
once with its exit status and the tail of its logs; one that stops answering fails it after
the timeout. Either way, and on close(), QEMU is killed (its whole process group) and both
sockets are closed; a finalizer does the same if the target is dropped without close(). The
logs stay in `log_dir` (default: a new folder under $BMS_HIL_LOG_DIR, else build/hil/qemu
in the working directory): console.log (the firmware's UART1), qemu.log (QEMU's own output),
uart0-rx.bin / uart0-tx.bin (the last 64 KiB of protocol traffic each way).

Speed: QEMU 7.2's CMSDK UART model takes one received byte per main-loop round trip with
the vCPU thread (about 15-25 us per byte here), so a STEP's measurement frame dominates the
lock-step time; QEMU is pinned to one CPU (pin_cpu) because those thread hand-offs are
cheaper there.

Cycle counting: with `-icount shift=N` (default 6) every guest instruction advances virtual
time by 2^N ns, and the firmware's SysTick (25 MHz) counts virtual time; the firmware's boot
calibration (a loop of known length) turns ticks into instructions, so State.cycles is the
instruction count of bms_step (cycle_unit "instructions"). Without icount (icount_shift=None)
the ticks follow host time and State.cycles is 0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path
from typing import Any

from bms.targets.base import TargetError
from hil.link import Link, SocketStream, TargetBusy, TracingStream
from hil.protocol import Counter
from hil.targets.remote import RemoteTarget

DEFAULT_BOARD = "mps2-an386"
ELF_ENV = "BMS_FIRMWARE_ELF"
LOG_ROOT = Path("build") / "hil" / "qemu"
KEEP_LOGS = 20


class QemuError(TargetError):
    """QEMU is missing, did not start, died or hung."""


def find_qemu(binary: str | None = None) -> str:
    name = binary or os.environ.get("BMS_QEMU", "qemu-system-arm")
    path = shutil.which(name)
    if path is None:
        raise QemuError(f"'{name}' not found: install it (Debian: apt-get install qemu-system-arm)")
    return path


def _new_log_dir() -> Path:
    base = Path(os.environ.get("BMS_HIL_LOG_DIR", LOG_ROOT))
    base.mkdir(parents=True, exist_ok=True)
    old = sorted((p for p in base.glob("qemu-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for p in old[: max(0, len(old) - KEEP_LOGS + 1)]:
        shutil.rmtree(p, ignore_errors=True)
    d = base / f"qemu-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
    d.mkdir()
    return d


def _exit_text(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit status {rc}"


def _kill(res: dict[str, Any]) -> None:
    """Close the sockets and end QEMU's process group (also the finalizer)."""
    for key in ("conn", "listener"):
        s = res.pop(key, None)
        if s is not None:
            with contextlib.suppress(OSError):
                s.close()
    proc: subprocess.Popen[bytes] | None = res.pop("proc", None)
    if proc is not None and proc.poll() is None:
        for sig, wait_s in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
    log = res.pop("log", None)
    if log is not None:
        log.close()


class QemuTarget(RemoteTarget):
    """The firmware in qemu-system-arm -M mps2-an386 (see the module docstring)."""

    def __init__(
        self,
        elf: str | Path | None = None,
        *,
        board: str = DEFAULT_BOARD,
        qemu: str | None = None,
        icount_shift: int | None = 6,
        boot_timeout_s: float = 20.0,
        reply_timeout_s: float = 10.0,
        log_dir: str | Path | None = None,
        expect_source_hash: int | None = None,
        pin_cpu: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._res: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _kill, self._res)
        self._closed = False
        self.icount_shift = icount_shift
        self.log_dir = Path(log_dir) if log_dir is not None else _new_log_dir()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._trace: TracingStream | None = None
        try:
            qemu_bin = find_qemu(qemu)
            elf = elf if elf is not None else os.environ.get(ELF_ENV)
            if not elf:
                raise QemuError(
                    f"no firmware ELF: pass elf= or set {ELF_ENV} "
                    f"(build it with `make firmware BOARD={board}`)"
                )
            self.elf = Path(elf)
            if not self.elf.is_file():
                raise QemuError(
                    f"firmware ELF {self.elf} not found (build it with `make firmware BOARD={board}`)"
                )
            listener = socket.create_server(("127.0.0.1", 0))
            self._res["listener"] = listener
            port = listener.getsockname()[1]
            self.port = port
            self.command_line = [
                qemu_bin,
                "-M",
                board,
                "-nodefaults",
                "-display",
                "none",
                "-net",
                "none",
                "-kernel",
                str(self.elf),
                "-chardev",
                f"socket,id=hil,host=127.0.0.1,port={port},server=off,nodelay=on",
                "-serial",
                "chardev:hil",
                "-chardev",
                f"file,id=console,path={self.log_dir / 'console.log'}",
                "-serial",
                "chardev:console",
                "-semihosting-config",
                "enable=on,target=native",
                *(["-icount", f"shift={icount_shift}"] if icount_shift is not None else []),
                *extra_args,
            ]
            log = open(self.log_dir / "qemu.log", "wb")  # noqa: SIM115 - closed by _kill
            self._res["log"] = log
            log.write((" ".join(self.command_line) + "\n").encode())
            log.flush()
            # QEMU's I/O thread hands every UART byte to the vCPU thread and back: on one
            # CPU those hand-offs are cheaper (taskset execs QEMU: same pid, same cmdline)
            cpus = sorted(os.sched_getaffinity(0))
            taskset = shutil.which("taskset")
            pin = ["taskset", "-c", str(cpus[-1])] if pin_cpu and taskset and len(cpus) > 1 else []
            proc = subprocess.Popen(
                [*pin, *self.command_line],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._res["proc"] = proc
            self.pid = proc.pid
            conn = self._accept(listener, proc, boot_timeout_s)
            self._res["conn"] = conn
            self._trace = TracingStream(SocketStream(conn))
            link = Link(self._trace, reply_timeout_s=reply_timeout_s, check=self._check_alive)
            try:
                hello = link.wait_hello(boot_timeout_s)
            except TargetError as exc:
                alive = proc.poll() is None
                self.close()
                what = "QEMU runs but the firmware sent no HELLO" if alive else "QEMU died at boot"
                raise QemuError(f"{what} within {boot_timeout_s:.0f} s ({exc}); {self._log_tail()}") from None
            link.on_failure = self._on_failure
            super().__init__(link, "qemu", hello=hello, expect_source_hash=expect_source_hash)
        except BaseException:
            self.close()
            raise

    def _cycle_units(self) -> tuple[str, float]:
        h = self.hello
        if self.icount_shift is not None and h.counter_kind == Counter.SYSTICK and h.cal_ticks > 0:
            return "instructions", h.cal_insns / h.cal_ticks
        return "", 0.0

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._res.get("proc")

    def _accept(
        self, listener: socket.socket, proc: subprocess.Popen[bytes], timeout_s: float
    ) -> socket.socket:
        deadline = time.monotonic() + timeout_s
        listener.settimeout(0.1)
        while True:
            try:
                conn, _ = listener.accept()
                return conn
            except TimeoutError:
                pass
            rc = proc.poll()
            if rc is not None:
                raise QemuError(
                    f"QEMU exited with {_exit_text(rc)} before connecting its UART; {self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise QemuError(f"QEMU did not connect its UART within {timeout_s:.0f} s; {self._log_tail()}")

    def _log_tail(self, n: int = 12) -> str:
        parts = []
        for name in ("console.log", "qemu.log"):
            p = self.log_dir / name
            if p.is_file():
                lines = p.read_text(errors="replace").strip().splitlines()[-n:]
                if lines:
                    parts.append(f"{name}: " + " | ".join(lines))
        parts.append(f"logs in {self.log_dir}")
        return "; ".join(parts)

    def _check_alive(self) -> None:
        proc = self._res.get("proc")
        if proc is not None and proc.poll() is not None:
            raise QemuError(f"QEMU exited with {_exit_text(proc.returncode)}")

    def _on_failure(self, exc: TargetError) -> TargetError:
        proc = self.process
        rc = None
        if proc is not None:
            rc = proc.poll()
            if rc is None and ("socket" in str(exc) or "closed the connection" in str(exc)):
                # the connection broke or the target closed it: the process is probably on its
                # way out (a SIGKILL closes the socket before the exit can be reaped: seen once
                # in CI under load, reported as a hang)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    rc = proc.wait(1.0)
        self.close()
        if isinstance(exc, QemuError) and "exited" in str(exc):
            return QemuError(f"{exc}; {self._log_tail()}")
        if rc is not None:
            return QemuError(f"QEMU exited with {_exit_text(rc)} ({exc}); {self._log_tail()}")
        if isinstance(exc, TargetBusy):
            return QemuError(f"{exc}: QEMU busy, not hung (killed it); {self._log_tail()}")
        return QemuError(f"{exc}: QEMU hung (killed it); {self._log_tail()}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._trace is not None:
            with contextlib.suppress(OSError):
                (self.log_dir / "uart0-rx.bin").write_bytes(bytes(self._trace.rx))
                (self.log_dir / "uart0-tx.bin").write_bytes(bytes(self._trace.tx))
        _kill(self._res)
