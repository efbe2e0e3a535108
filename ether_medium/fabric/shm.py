"""Shared-memory rings: large arrays between processes of one machine without going through the broker.

A publishing process has one ring per topic: a file in ``/dev/shm`` named ``ether-arr-<pid>-<token>``
holding ``slots`` slots (``ETHER_ARRAYS_SLOTS``, default 8) of equal size, each a 64-byte header
(``seq`` u64, ``nbytes`` u64, little-endian) followed by the array's bytes. Publishing an array copies it
into the next slot and sends, in the ordinary fabric message, a descriptor: CBOR tag :data:`SHM_TAG` over
``[segment name, slot offset, seq, dtype string, shape]``.

Slots are guarded by POSIX record locks on the segment file (``fcntl.lockf``, about 1.7 us a lock and unlock
here), so readers need no copy and nothing is ever read torn:

* the writer takes a slot with an exclusive, non-blocking lock, skipping slots a reader holds; it sets the
  slot's ``seq`` to 0, copies the bytes, sets ``seq`` to the message's (1, 2, 3, ... per ring), unlocks;
* a reader takes a shared, non-blocking lock on the slot, then checks ``seq``: if the lock is refused (the
  slot is being written again) or ``seq`` differs from the descriptor's, the slot was overwritten before it
  was read (the reader is more than ``slots`` messages behind) and the message is dropped for that reader
  (:class:`~ether_medium.errors.ArrayDropped`), counted. Otherwise the subscriber gets a read-only view of
  the slot itself, and the slot stays locked until the process reads its next message's arrays
  (:func:`release`): valid during the call, without a copy.

The kernel drops the locks of a process that dies, so a killed reader never blocks a ring. A publisher may
also :func:`loan` a slot, fill it in place (a camera driver writing its frame) and publish it: no copy at all.

A ring grows (a new segment, the old one unlinked) when an array larger than its slots comes. Segments are
unlinked when their process closes its rings (:func:`close_all`, also at interpreter exit), except in a
launcher's children: their segments outlive them until the shutdown is over, so that the recorder still reads
the last arrays a process published before it ended. The supervisor removes the segments of a child that died
during the run, the launcher those of its children at the end of its shutdown, and :func:`remove_stale`
(run by the launcher at every start) any whose process is gone (after a ``kill -9`` of the launcher itself).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import logging
import math
import mmap
import os
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cbor2 import CBORTag

from ether_medium.errors import ArrayDropped, ArrayError
from ether_medium.fabric.process import pid_alive

if TYPE_CHECKING:  # numpy is an optional extra: the launcher cleans up (remove_stale) without it
    import numpy as np

__all__ = ["SHM_DIR", "SHM_TAG", "Ring", "available", "close_all", "forget_loan", "inline_only", "loan",
           "put", "read", "release", "remove_stale"]

log = logging.getLogger("ether")

SHM_TAG = 59296  # Ether's own: [segment, offset, seq, dtype, shape] of an array in a shared-memory slot
SHM_DIR = "/dev/shm"
_PREFIX = "ether-arr-"
_NAME = re.compile(r"ether-arr-(\d{1,10})-[0-9a-f]{16}")
_HEADER = 64
_SEQ = struct.Struct("<Q")
_HEAD = struct.Struct("<QQ")
_GRAIN = 1 << 20  # slot sizes are multiples of 1 MiB
_OPEN_SEGMENTS = 32  # a reader keeps this many segments mapped


@functools.cache
def available() -> bool:
    """Whether this machine has POSIX shared memory as files (Linux)."""
    return os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK)


def inline_only() -> Callable[[], None]:
    """Send every array inline from now on, in this process and the processes it starts (a fabric that
    machines join over TCP: they cannot read this machine's shared memory); returns what undoes it."""
    key = "ETHER_ARRAYS_SHM_BYTES"
    before = os.environ.get(key)
    os.environ[key] = "0"

    def undo() -> None:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before

    return undo


def _slots() -> int:
    try:
        return max(2, min(1024, int(os.environ.get("ETHER_ARRAYS_SLOTS", "8"))))
    except ValueError:
        return 8


class Ring:
    """One publisher's ring of slots (see the module docstring)."""

    def __init__(self, slot_bytes: int, slots: int) -> None:
        self.slot_bytes = slot_bytes
        self.stride = _HEADER + slot_bytes
        self.slots = slots
        self.name = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        self.path = os.path.join(SHM_DIR, self.name)
        self._fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(self._fd, self.stride * slots)
            self._mm = mmap.mmap(self._fd, self.stride * slots)
        except BaseException:
            os.unlink(self.path)
            os.close(self._fd)
            raise
        self._next = 0
        self._seq = 0
        self._loaned: set[int] = set()  # slot offsets handed out by loan() and not yet published

    def _claim(self) -> int | None:
        """The offset of the next slot no reader holds, locked for writing, its seq set to 0; ``None`` when
        every slot is held."""
        for _ in range(self.slots):
            offset = (self._next % self.slots) * self.stride
            self._next += 1
            if offset in self._loaned:
                continue
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, self.stride, offset)
            except OSError:  # a reader holds it (it is inside a callback with this slot's array)
                continue
            _SEQ.pack_into(self._mm, offset, 0)  # being written
            return offset
        return None

    def _publish(self, offset: int, arr: np.ndarray[Any, Any]) -> CBORTag:
        self._seq += 1
        _HEAD.pack_into(self._mm, offset, self._seq, arr.nbytes)
        fcntl.lockf(self._fd, fcntl.LOCK_UN, self.stride, offset)
        return CBORTag(SHM_TAG, [self.name, offset, self._seq, arr.dtype.str, list(arr.shape)])

    def _view(self, offset: int, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
        import numpy as np

        return np.ndarray(shape, dtype, buffer=self._mm, offset=offset + _HEADER)

    def put(self, arr: np.ndarray[Any, Any]) -> CBORTag | None:
        """Copy ``arr`` into a free slot; the descriptor to publish (``None``: every slot is held)."""
        import numpy as np

        offset = self._claim()
        if offset is None:
            return None
        dst = self._view(offset, arr.shape, arr.dtype)
        np.copyto(dst, arr, casting="no")
        del dst
        return self._publish(offset, arr)

    def loan(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray[Any, Any] | None:
        """A writable array in a free slot (``None``: every slot is held); publishing it sends no copy."""
        offset = self._claim()
        if offset is None:
            return None
        self._loaned.add(offset)
        arr = self._view(offset, shape, dtype)
        _loans[id(arr)] = (self, offset, arr)
        return arr

    def publish_loan(self, offset: int, arr: np.ndarray[Any, Any]) -> CBORTag:
        self._loaned.discard(offset)
        arr.flags.writeable = False  # the publisher is done with it: from now on readers read it
        return self._publish(offset, arr)

    def close(self, unlink: bool = True) -> None:
        if unlink:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(BufferError):  # a loaned array still refers to it: the mapping lives on
            self._mm.close()


# Set ("1") by the launcher for its children: a child ending leaves its segments, and the launcher removes
# them once the recorder has drained (Launcher.shutdown): the recorder may read a process's last arrays after
# it ended.
LEFT_TO_LAUNCHER = "ETHER_SHM_LEFT_TO_LAUNCHER"
_rings: dict[str, Ring] = {}
_loans: dict[int, tuple[Ring, int, Any]] = {}  # id(loaned array) -> (ring, slot offset, array)


def _ring(topic: str, nbytes: int) -> Ring:
    ring = _rings.get(topic)
    if ring is None or ring.slot_bytes < nbytes:
        if ring is not None:
            ring.close()
        size = max(_GRAIN, -(-nbytes // _GRAIN) * _GRAIN)
        ring = _rings[topic] = Ring(size, _slots())
        if len(_rings) == 1:
            atexit.register(close_all, unlink=os.environ.get(LEFT_TO_LAUNCHER) != "1")
    return ring


def put(topic: str, arr: np.ndarray[Any, Any]) -> CBORTag | None:
    """Publish ``arr`` through this process's ring for ``topic`` (made, or grown, as needed): the
    descriptor, or ``None`` when every slot is held by readers (then it goes inline). A loaned array
    (:func:`loan`) is published from its slot without a copy."""
    loan = _loans.pop(id(arr), None)
    if loan is not None and loan[2] is arr:
        return loan[0].publish_loan(loan[1], arr)
    return _ring(topic, arr.nbytes).put(arr)


def forget_loan(arr: Any) -> None:
    """Give back the slot of a loaned array that was published another way (inline)."""
    loan = _loans.pop(id(arr), None)
    if loan is not None and loan[2] is arr:
        ring, offset, _ = loan
        ring._loaned.discard(offset)
        with contextlib.suppress(OSError):
            fcntl.lockf(ring._fd, fcntl.LOCK_UN, ring.stride, offset)


def loan(topic: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray[Any, Any] | None:
    """A writable array of ``shape`` and ``dtype`` in a slot of ``topic``'s ring, or ``None`` (no slot)."""
    import numpy as np

    dt = np.dtype(dtype)
    nbytes = math.prod(shape) * dt.itemsize
    return _ring(topic, nbytes).loan(tuple(shape), dt)


def close_all(unlink: bool = True) -> None:
    """Close every ring of this process (its publishers are done) and unlink it; ``unlink=False`` leaves the
    segments for whoever removes them once every reader is done (a launcher's child,
    :data:`LEFT_TO_LAUNCHER`)."""
    for ring in _rings.values():
        ring.close(unlink)
    _rings.clear()
    _loans.clear()


# -- reading ---------------------------------------------------------------------------------------------
_segments: OrderedDict[str, tuple[int, mmap.mmap]] = OrderedDict()
dropped = 0  # arrays this process found overwritten before it read them (all its subscribers)
_DROPPED = ("an array's shared-memory slot was overwritten before this subscriber read it (it fell more than "
            "ETHER_ARRAYS_SLOTS messages behind its publisher)")


def _dropped(message: str) -> ArrayDropped:
    global dropped
    dropped += 1
    return ArrayDropped(message, reason=_DROPPED)
_held: list[tuple[int, int, int]] = []  # (fd, offset, length) of slots this process holds for a callback


def _segment(name: str, where: str) -> tuple[int, mmap.mmap]:
    seg = _segments.get(name)
    if seg is not None:
        _segments.move_to_end(name)
        return seg
    try:
        fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY)
    except FileNotFoundError:
        raise _dropped(
            f"{where}: shared-memory segment {name} is gone (its publisher ended or grew its ring, or it is "
            "on another machine: arrays cross machines inline, set ETHER_ARRAYS_SHM_BYTES=0 on the publisher)"
        ) from None
    try:
        mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    except BaseException:
        os.close(fd)
        raise
    _segments[name] = (fd, mm)
    while len(_segments) > _OPEN_SEGMENTS:
        release()
        _, (old_fd, old) = _segments.popitem(last=False)
        os.close(old_fd)
        with contextlib.suppress(BufferError):  # a subscriber kept an array of it: it stays mapped
            old.close()
    return fd, mm


def release() -> None:
    """Let the publishers overwrite the slots this process held for the last callback."""
    for fd, offset, length in _held:
        with contextlib.suppress(OSError):
            fcntl.lockf(fd, fcntl.LOCK_UN, length, offset)
    _held.clear()


def read(desc: Any, where: str = "array") -> np.ndarray[Any, Any]:
    """The array a descriptor names: a read-only view of its slot, which this process holds (a shared lock:
    the publisher skips it) until :func:`release`, called before the next message's arrays are read. Raises
    :class:`ArrayDropped` when the slot was overwritten, :class:`ArrayError` for a bad descriptor."""
    import numpy as np

    from ether_medium.fabric.dtypes import parse_dtype, parse_shape

    if not isinstance(desc, list | tuple) or len(desc) != 5:
        raise ArrayError(f"{where}: malformed shared-memory descriptor")
    name, offset, seq, dtype_s, shape_raw = desc
    if (type(name) is not str or type(offset) is not int or type(seq) is not int
            or (name not in _segments and not _NAME.fullmatch(name))):  # (names are checked once)
        raise ArrayError(f"{where}: malformed shared-memory descriptor {desc!r:.80}")
    dtype, shape = parse_dtype(dtype_s, where), parse_shape(shape_raw, where)
    nbytes = math.prod(shape) * dtype.itemsize
    fd, mm = _segment(name, where)
    if offset < 0 or offset + _HEADER + nbytes > len(mm):
        raise ArrayError(f"{where}: descriptor points outside segment {name}")
    length = _HEADER + nbytes
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, length, offset)
    except OSError:
        raise _dropped(f"{where}: slot overwritten before it was read (being written again)") from None
    _held.append((fd, offset, length))
    first, size = _HEAD.unpack_from(mm, offset)
    if first != seq:
        raise _dropped(f"{where}: slot overwritten before it was read (seq {first}, wanted {seq})")
    if size != nbytes:
        raise ArrayError(f"{where}: slot holds {size} bytes, the descriptor says {nbytes}")
    return np.frombuffer(mm, dtype, nbytes // dtype.itemsize, offset + _HEADER).reshape(shape)


# -- cleaning up -----------------------------------------------------------------------------------------
def remove_stale(pid: int | None = None) -> list[str]:
    """Unlink the segments of ``pid`` (a child known to be dead), or of every process that no longer exists;
    the names removed."""
    if not available():
        return []
    removed = []
    for entry in os.listdir(SHM_DIR):
        match = _NAME.fullmatch(entry)
        if match is None:
            continue
        owner = int(match.group(1))
        if (pid is not None and owner != pid) or (pid is None and pid_alive(owner)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(SHM_DIR, entry))
            removed.append(entry)
    if removed:
        log.info("removed %d shared-memory segment(s) left by ended processes: %s", len(removed),
                 ", ".join(removed[:5]) + (" ..." if len(removed) > 5 else ""))
    return removed
