"""The byte-stream fault proxy: a pty for the bridge on one side, the device's pty or pipes on the other.

    with StreamFaultProxy("/dev/pts/7", rates=FaultRates(corrupt=0.01, drop=0.01), seed=7) as proxy:
        attach the bridge to f"serial://{proxy.bridge_path}"

``bridge_path`` is a symlink in a private directory that always points at the current bridge-side pty, so
after ``cut(seconds)`` (the pty disappears, as when a USB cable is pulled, and a new one appears) the
bridge re-attaches to the same path. ``cut(seconds, mode="silence")`` instead drops everything both ways
for that time while the pty stays open, as a broken wire would.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import sys
import tempfile
import termios
import threading
import time
import tty
from collections import deque
from types import TracebackType

from hil.faults.ledger import FrameLedger
from hil.faults.plan import NO_FAULTS, ByteMangler, FaultRates
from hil.faults.stats import DirectionStats

TO_DEVICE = "to_device"
TO_BRIDGE = "to_bridge"
MAX_BUFFERED = 1 << 20  # bytes held for a receiver that does not read, beyond which they are discarded
_READ = 65536


class _Direction:
    def __init__(self, name: str, rates: FaultRates, seed: object) -> None:
        self.name = name
        self.mangler = ByteMangler(rates, seed, name)
        self.ledger = FrameLedger()
        self.queue: deque[tuple[float, bytes]] = deque()  # (release time, bytes), release times ascending
        self.wbuf = bytearray()
        self.bytes_out = 0
        self.cut_dropped = 0
        self.discarded = 0

    def accept(self, data: bytes, now: float) -> None:
        self.ledger.saw_input(data)
        if len(self.wbuf) + sum(len(p) for _, p in self.queue) > MAX_BUFFERED:
            self.discarded += len(data)  # the receiver does not read: lost like a UART overrun
            return
        for delay, piece in self.mangler.mangle(data):
            release = now + delay
            if self.queue:
                release = max(release, self.queue[-1][0])
            self.queue.append((release, piece))

    def release(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            self.wbuf += self.queue.popleft()[1]

    def wrote(self, n: int) -> None:
        self.ledger.saw_output(bytes(self.wbuf[:n]))
        del self.wbuf[:n]
        self.bytes_out += n

    def cut(self) -> None:
        self.cut_dropped += len(self.wbuf) + sum(len(p) for _, p in self.queue)
        self.wbuf.clear()
        self.queue.clear()
        self.ledger.cut()

    def snapshot(self) -> DirectionStats:
        c, f = self.mangler.counts, self.ledger.counts
        return DirectionStats(
            direction=self.name, bytes_in=c.seen, bytes_out=self.bytes_out, corrupted=c.corrupted,
            dropped=c.dropped, duplicated=c.duplicated, delayed=c.delayed, cut_dropped=self.cut_dropped,
            discarded=self.discarded, frames_in=f.frames_in, frames_intact=f.frames_intact,
            frames_damaged=f.frames_damaged, frames_damaged_crc_ok=f.frames_damaged_crc_ok,
            frames_lost=f.frames_lost, frames_empty=f.frames_empty,
            frames_in_flight=self.ledger.in_flight, lost=list(f.lost),
        )


class StreamFaultProxy:
    """Forward bytes between a bridge-side pty and a device, damaging them as configured.

    ``device`` is the path of the device's tty (a pty made by ``ether sim``, a real serial port) or a pair
    ``(read_fd, write_fd)`` such as a child process's stdout and stdin; fds passed in stay the caller's.
    ``rates`` applies to both directions unless ``to_device``/``to_bridge`` override it.
    """

    def __init__(
        self,
        device: str | tuple[int, int],
        *,
        rates: FaultRates = NO_FAULTS,
        to_device: FaultRates | None = None,
        to_bridge: FaultRates | None = None,
        seed: object = 0,
        link_dir: str | None = None,
    ) -> None:
        self.seed = seed
        self._dirs = {
            TO_DEVICE: _Direction(TO_DEVICE, to_device or rates, seed),
            TO_BRIDGE: _Direction(TO_BRIDGE, to_bridge or rates, seed),
        }
        self._own_device = isinstance(device, str)
        if isinstance(device, str):
            fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            with contextlib.suppress(OSError):
                tty.setraw(fd, termios.TCSANOW)  # not TCSAFLUSH: that discards what the device sent
            self._dev_r = self._dev_w = fd
        else:
            self._dev_r, self._dev_w = device
            for fd in device:
                os.set_blocking(fd, False)
        self._tmp = tempfile.mkdtemp(prefix="ether-hil-", dir=link_dir)
        self.bridge_path = os.path.join(self._tmp, "bridge")
        self._master: int | None = None
        self._slave: int | None = None
        self._open_bridge_side()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._cut_until = 0.0
        self._cut_mode = ""
        self._hang_up = False
        self._held = False
        self._new_device: int | None = None  # replace_device: the fd the forwarding thread switches to
        self.cuts = 0
        self.device_closed = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hil-fault-proxy", daemon=True)
        self._thread.start()

    # -- control (any thread) ---------------------------------------------------------------------------
    def set_rates(
        self, rates: FaultRates | None = None, *, to_device: FaultRates | None = None,
        to_bridge: FaultRates | None = None,
    ) -> None:
        with self._lock:
            for name, new in ((TO_DEVICE, to_device or rates), (TO_BRIDGE, to_bridge or rates)):
                if new is not None:
                    self._dirs[name].mangler.set_rates(new)

    def cut(self, seconds: float, mode: str = "close") -> None:
        """Cut the link for ``seconds``: "close" removes the bridge-side pty, "silence" drops all bytes."""
        if mode not in ("close", "silence"):
            raise ValueError(f"cut mode {mode!r}: use 'close' (pty disappears) or 'silence' (bytes dropped)")
        with self._lock:
            self._cut_until = time.monotonic() + seconds
            self._cut_mode = mode
            self.cuts += 1
            for d in self._dirs.values():
                d.cut()
            if mode == "close":
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.bridge_path)
                self._hang_up = True  # the forwarding thread closes the pty (it may be selecting on it)
        self._wake()

    def replace_device(self, path: str) -> None:
        """Forward to the device's new tty from now on: a board that came back from a reset on another
        port (the emulated board's new pty). Bytes still queued for the old one are dropped, as a reset
        loses them; the old tty is closed if the proxy opened it."""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        with contextlib.suppress(OSError):
            tty.setraw(fd, termios.TCSANOW)  # keeps what the device already sent (its HELLO)
        with self._lock:
            if self._new_device is not None:
                os.close(self._new_device)
            self._new_device = fd
        self._wake()

    def hold(self, held: bool = True) -> None:
        """Stop (or resume) reading from the device: its bytes wait in its own buffer, nothing is lost.

        With :meth:`quiesce` and :meth:`bridge_unread` this gives a point where both sides' counters can be
        compared while the device keeps running.
        """
        with self._lock:
            self._held = held
        self._wake()

    def bridge_unread(self) -> int:
        """Bytes written to the bridge-side pty that the bridge has not read yet."""
        with self._lock:
            if self._slave is None:
                return 0
            buf = fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0")
            return int.from_bytes(buf, sys.byteorder)

    @property
    def is_cut(self) -> bool:
        """True until the forwarding thread has ended the cut (bytes sent after that go through)."""
        with self._lock:
            return bool(self._cut_mode)

    def stats(self) -> dict[str, DirectionStats]:
        with self._lock:
            return {name: d.snapshot() for name, d in self._dirs.items()}

    def passed_on(self) -> bool:
        """True when nothing is queued or buffered in either direction (all was written to the other side)."""
        with self._lock:
            return all(not d.queue and not d.wbuf for d in self._dirs.values())

    def quiesce(self, timeout_s: float = 30.0) -> dict[str, DirectionStats]:
        """Wait until nothing is queued or buffered, then account in-flight frames and return the stats.

        Raises ``TimeoutError`` if that takes longer than ``timeout_s`` (counters taken then would not add
        up). A receiver that does not read meanwhile (a bridge run by the caller's own thread, its pty full)
        never lets it happen: run the receiver until :meth:`passed_on` first."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if all(not d.queue and not d.wbuf for d in self._dirs.values()):
                    for d in self._dirs.values():
                        d.ledger.settle()
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"fault injector still holds bytes for its receivers after {timeout_s} s")
            time.sleep(0.005)
        return self.stats()

    def close(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)
        with self._lock:
            self._close_bridge_side()
            fds = [self._wake_r, self._wake_w]
            if self._own_device:
                fds.append(self._dev_r)
            if self._new_device is not None:
                fds.append(self._new_device)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        with contextlib.suppress(OSError):
            os.rmdir(self._tmp)

    def __enter__(self) -> StreamFaultProxy:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the bridge-side pty ----------------------------------------------------------------------------
    def _open_bridge_side(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline, before anyone writes
        os.set_blocking(master, False)
        tmp_link = self.bridge_path + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_link)
        os.symlink(os.ttyname(slave), tmp_link)
        os.replace(tmp_link, self.bridge_path)
        self._master, self._slave = master, slave  # our slave fd keeps the master readable with no bridge

    def _close_bridge_side(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.bridge_path)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    # -- the forwarding thread --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except BaseException as exc:  # reported to the owner through .error, never swallowed
            self.error = exc
            raise

    def _step(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._hang_up:
                self._close_bridge_side()
                self._hang_up = False
            if self._new_device is not None:
                self._switch_device(self._new_device)
                self._new_device = None
            if self._cut_mode and now >= self._cut_until:
                if self._cut_mode == "close":
                    self._open_bridge_side()
                self._cut_mode = ""
            cut = bool(self._cut_mode)
            for d in self._dirs.values():
                d.release(now)
            master = self._master
            rlist = [self._wake_r]
            if not self.device_closed.is_set() and not self._held:
                rlist.append(self._dev_r)
            if master is not None:
                rlist.append(master)
            wlist = []
            if self._dirs[TO_DEVICE].wbuf and not self.device_closed.is_set():
                wlist.append(self._dev_w)
            if self._dirs[TO_BRIDGE].wbuf and master is not None:
                wlist.append(master)
            timeout = 0.25
            for d in self._dirs.values():
                if d.queue:
                    timeout = min(timeout, max(0.0, d.queue[0][0] - now))
            if cut:
                timeout = min(timeout, max(0.0, self._cut_until - now))
        readable, writable, _ = select.select(rlist, wlist, [], timeout)
        now = time.monotonic()
        with self._lock:
            if self._wake_r in readable:
                os.read(self._wake_r, 4096)
            if self._dev_r in readable and not self._held:
                data = self._read(self._dev_r)
                if data is None:
                    self.device_closed.set()
                elif data:
                    self._accept(TO_BRIDGE, data, now)
            if master is not None and master == self._master and master in readable:
                data = self._read(master)
                if data:
                    self._accept(TO_DEVICE, data, now)
            for fd, name in ((self._dev_w, TO_DEVICE), (master, TO_BRIDGE)):
                if fd is not None and fd in writable and (name == TO_DEVICE or fd == self._master):
                    d = self._dirs[name]
                    try:
                        n = os.write(fd, d.wbuf[:_READ])
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        if exc.errno in (errno.EIO, errno.EPIPE) and name == TO_DEVICE:
                            self.device_closed.set()
                            continue
                        raise
                    d.wrote(n)

    def _switch_device(self, fd: int) -> None:
        """(forwarding thread, locked) Use ``fd`` as the device from now on; see replace_device."""
        if self._own_device:
            with contextlib.suppress(OSError):
                os.close(self._dev_r)
        self._dev_r = self._dev_w = fd
        self._own_device = True
        self._dirs[TO_DEVICE].cut()
        self.device_closed.clear()

    def _accept(self, name: str, data: bytes, now: float) -> None:
        d = self._dirs[name]
        if self._cut_mode:
            d.cut_dropped += len(data)
            return
        d.accept(data, now)

    @staticmethod
    def _read(fd: int) -> bytes | None:
        """Bytes read, b"" when nothing was ready, None at end of file or hang-up."""
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return None
            raise
        return data if data else None

