"""Shared-memory rings: large arrays between processes of one machine without going through the broker.

A publishing process has one ring per topic: a file in ``/dev/shm`` named ``ether-arr-<pid>-<token>``
holding ``slots`` slots (``ETHER_ARRAYS_SLOTS``, default 8) of equal size, each a 64-byte header
(``seq`` u64, ``nbytes`` u64, little-endian) followed by the array's bytes. Publishing an array copies it
into the next slot and sends, in the ordinary fabric message, a descriptor: CBOR tag :data:`SHM_TAG` over
``[segment name, slot offset, seq, dtype string, shape]``.

Writing a slot is a sequence lock: the writer sets the slot's ``seq`` to 0, copies the bytes, then sets
``seq`` to the message's (1, 2, 3, ... per ring). A reader checks ``seq`` before and after copying the bytes
out into a buffer of its own; if either differs from the descriptor's, the slot was overwritten before or
while it was read (the reader is more than ``slots`` messages behind), and the message is dropped for that
reader (:class:`~ether_medium.errors.ArrayDropped`), never handed over torn. The stores and loads involved
are ordered on x86-64 (total store order); other processors would need fences this module does not add.

A ring grows (a new segment, the old one unlinked) when an array larger than its slots comes. Segments are
unlinked when their process closes its rings (:func:`close_all`, also at interpreter exit); after a
``kill -9`` the supervisor removes a dead child's segments, and :func:`remove_stale` (run by the launcher at
every start) removes any whose process is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import mmap
import os
import re
import secrets
import struct
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from cbor2 import CBORTag

from ether_medium.errors import ArrayDropped, ArrayError

if TYPE_CHECKING:  # numpy is an optional extra: the launcher cleans up (remove_stale) without it
    import numpy as np

__all__ = ["SHM_DIR", "SHM_TAG", "Ring", "available", "close_all", "put", "read", "remove_stale"]

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


def available() -> bool:
    """Whether this machine has POSIX shared memory as files (Linux)."""
    return os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK)


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
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, self.stride * slots)
            self._mm = mmap.mmap(fd, self.stride * slots)
        except BaseException:
            os.unlink(self.path)
            raise
        finally:
            os.close(fd)
        self._next = 0
        self._seq = 0

    def put(self, arr: np.ndarray[Any, Any]) -> CBORTag:
        """Copy ``arr`` into the next slot; the descriptor to publish."""
        import numpy as np

        offset = (self._next % self.slots) * self.stride
        self._next += 1
        self._seq += 1
        mm = self._mm
        _HEAD.pack_into(mm, offset, 0, arr.nbytes)  # seq 0: being written
        dst: np.ndarray[Any, Any] = np.ndarray(arr.shape, arr.dtype, buffer=mm, offset=offset + _HEADER)
        np.copyto(dst, arr, casting="no")
        del dst
        _SEQ.pack_into(mm, offset, self._seq)
        return CBORTag(SHM_TAG, [self.name, offset, self._seq, arr.dtype.str, list(arr.shape)])

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with contextlib.suppress(BufferError):
            self._mm.close()


_rings: dict[str, Ring] = {}


def put(topic: str, arr: np.ndarray[Any, Any]) -> CBORTag:
    """Publish ``arr`` through this process's ring for ``topic`` (made, or grown, as needed)."""
    ring = _rings.get(topic)
    if ring is None or ring.slot_bytes < arr.nbytes:
        if ring is not None:
            ring.close()
        size = max(_GRAIN, -(-arr.nbytes // _GRAIN) * _GRAIN)
        ring = _rings[topic] = Ring(size, _slots())
        if len(_rings) == 1:
            atexit.register(close_all)
    return ring.put(arr)


def close_all() -> None:
    """Unlink every ring of this process (its publishers are done)."""
    for ring in _rings.values():
        ring.close()
    _rings.clear()


# -- reading ---------------------------------------------------------------------------------------------
_segments: OrderedDict[str, mmap.mmap] = OrderedDict()
_scratch: list[np.ndarray[Any, Any]] = []


def _segment(name: str, where: str) -> mmap.mmap:
    mm = _segments.get(name)
    if mm is not None:
        _segments.move_to_end(name)
        return mm
    try:
        fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY)
    except FileNotFoundError:
        raise ArrayDropped(
            f"{where}: shared-memory segment {name} is gone (its publisher ended or grew its ring, or it is "
            "on another machine: arrays cross machines inline, set ETHER_ARRAYS_SHM_BYTES=0 on the publisher)"
        ) from None
    try:
        mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    _segments[name] = mm
    while len(_segments) > _OPEN_SEGMENTS:
        _, old = _segments.popitem(last=False)
        with contextlib.suppress(BufferError):
            old.close()
    return mm


def _buffer(k: int, nbytes: int) -> np.ndarray[Any, Any]:
    """Reusable buffer ``k`` of at least ``nbytes`` (touched once: no page faults per message)."""
    import numpy as np

    while len(_scratch) <= k:
        _scratch.append(np.empty(0, np.uint8))  # (the lazily imported numpy)
    buf = _scratch[k]
    if buf.nbytes < nbytes:
        buf = _scratch[k] = np.zeros(nbytes, np.uint8)
    return buf


def read(desc: Any, where: str = "array", scratch: int = 0) -> np.ndarray[Any, Any]:
    """The array a descriptor names, copied out into reusable buffer ``scratch`` and returned read-only.
    Raises :class:`ArrayDropped` when the slot was overwritten, :class:`ArrayError` for a bad descriptor."""
    import numpy as np

    from ether_medium.fabric.arrays import parse_dtype, parse_shape

    if not isinstance(desc, list | tuple) or len(desc) != 5:
        raise ArrayError(f"{where}: malformed shared-memory descriptor")
    name, offset, seq, dtype_s, shape_raw = desc
    if type(name) is not str or not _NAME.fullmatch(name) or type(offset) is not int or type(seq) is not int:
        raise ArrayError(f"{where}: malformed shared-memory descriptor {desc!r:.80}")
    dtype, shape = parse_dtype(dtype_s, where), parse_shape(shape_raw, where)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    mm = _segment(name, where)
    if offset < 0 or offset + _HEADER + nbytes > len(mm):
        raise ArrayError(f"{where}: descriptor points outside segment {name}")
    first, size = _HEAD.unpack_from(mm, offset)
    if first != seq:
        raise ArrayDropped(f"{where}: slot overwritten before it was read (seq {first}, wanted {seq})")
    if size != nbytes:
        raise ArrayError(f"{where}: slot holds {size} bytes, the descriptor says {nbytes}")
    buf = _buffer(scratch, nbytes)
    src = np.frombuffer(mm, np.uint8, nbytes, offset + _HEADER)
    np.copyto(buf[:nbytes], src)
    del src
    (after,) = _SEQ.unpack_from(mm, offset)
    if after != seq:
        raise ArrayDropped(f"{where}: slot overwritten while it was read (seq {after}, wanted {seq})")
    view = memoryview(buf.data).toreadonly()  # so writeable=True cannot be set back on the result
    return np.frombuffer(view, dtype, nbytes // dtype.itemsize).reshape(shape)


# -- cleaning up -----------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if (pid is not None and owner != pid) or (pid is None and _alive(owner)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(SHM_DIR, entry))
            removed.append(entry)
    if removed:
        log.info("removed %d shared-memory segment(s) left by ended processes: %s", len(removed),
                 ", ".join(removed[:5]) + (" ..." if len(removed) > 5 else ""))
    return removed
