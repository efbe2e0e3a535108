"""Arrays as message fields, without processes: the inline CBOR form (RFC 8746), the subscriber's checks,
the shared-memory ring's overwrite detection, hostile descriptors, and stale-segment cleanup."""

from __future__ import annotations

import os
from typing import Annotated, Any

import cbor2
import numpy as np
import pytest
from pydantic import Field

from ether_medium.errors import ArrayDropped, ArrayError, MessageRejected
from ether_medium.fabric import arrays, shm
from ether_medium.fabric.arrays import Array, ArraySpec
from ether_medium.fabric.validation import subscriber_model


def _wire(value: Any) -> Any:
    """What a subscriber's process decodes after ``value`` went through CBOR."""
    return cbor2.loads(cbor2.dumps(value))


@pytest.mark.parametrize("dtype", ["uint8", "int16", ">i4", "<u8", "float16", "float32", ">f8", "bool",
                                   "complex64", "complex128", "int8"])
def test_inline_round_trip_keeps_dtype_shape_and_bytes(dtype: str) -> None:
    a = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    b = arrays.from_wire(_wire(arrays.to_wire(a)))
    assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()
    assert not b.flags.writeable


def test_inline_form_is_rfc8746() -> None:
    tag = _wire(arrays.to_wire(np.array([1.0, 2.0], dtype="<f4")))
    assert tag.tag == 40 and list(tag.value[0]) == [2]
    assert tag.value[1].tag == 85 and tag.value[1].value == np.array([1.0, 2.0], "<f4").tobytes()


def test_non_contiguous_and_empty_arrays() -> None:
    a = np.arange(20, dtype=np.int32).reshape(4, 5)[:, ::2]
    assert np.array_equal(arrays.from_wire(_wire(arrays.to_wire(a))), a)
    e = np.zeros((0, 3), np.float32)
    assert arrays.from_wire(_wire(arrays.to_wire(e))).shape == (0, 3)


def test_object_and_string_arrays_cannot_be_published() -> None:
    for bad in (np.array(["a"]), np.array([object()])):
        with pytest.raises(ArrayError, match="cannot be published"):
            arrays.outgoing({"x": bad}, "t", shared=False)


def test_outgoing_leaves_plain_data_alone_and_converts_numpy_scalars() -> None:
    assert arrays.outgoing({"x": 1, "y": [1, 2]}, "t", shared=False) is None
    out = arrays.outgoing({"x": np.float32(1.5), "y": np.int64(3)}, "t", shared=False)
    assert out == {"x": 1.5, "y": 3} and type(out["y"]) is int
    nested = {"pos": {"x": np.float32(0.5), "ids": [np.int16(1), 2]}, "t": (np.float64(1.0),)}
    out = arrays.outgoing(nested, "t", shared=False)
    assert out == {"pos": {"x": 0.5, "ids": [1, 2]}, "t": (1.0,)} and type(out["pos"]["ids"][0]) is int
    assert type(nested["pos"]["x"]) is np.float32  # the caller's data is left as it was


@pytest.mark.parametrize(("data", "where"), [
    ({"scope": {"ch1": np.zeros(3)}}, "field 'scope'['ch1']"),
    ({"traces": [np.zeros(3)]}, "field 'traces'[0]"),
    ({"a": {"b": [1, {"c": np.zeros(2)}]}}, "field 'a'['b'][1]['c']"),
])
def test_an_array_inside_a_map_or_list_is_refused_saying_where(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ArrayError, match="arrays travel as top-level fields only") as exc:
        arrays.outgoing(data, "t", shared=False)
    assert str(exc.value).startswith(f"{where} is an array inside a map or list")


@pytest.mark.parametrize("item", [
    cbor2.CBORTag(40, "nonsense"),
    cbor2.CBORTag(40, [[2, 2], cbor2.CBORTag(85, b"\x00" * 15)]),  # 15 bytes for 4 float32
    cbor2.CBORTag(40, [[-1], cbor2.CBORTag(85, b"")]),
    cbor2.CBORTag(40, [[1], cbor2.CBORTag(99, b"\x00")]),
    cbor2.CBORTag(40, [[1], cbor2.CBORTag(arrays.OTHER_TAG, ["O", b"\x00" * 8])]),
    cbor2.CBORTag(40, [[1], b"\x00\x00\x00\x00"]),
    cbor2.CBORTag(shm.SHM_TAG, ["../../etc/passwd", 0, 1, "<f4", [1]]),
    cbor2.CBORTag(shm.SHM_TAG, ["ether-arr-1-0123456789abcdef", 0, 1, "<f4"]),
])
def test_malformed_arrays_are_rejected_with_a_reason(item: Any) -> None:
    def sub(self: Any, x: np.ndarray) -> None: ...

    with pytest.raises(MessageRejected, match="field 'x'"):
        subscriber_model(sub)({"x": _wire(item)})


def _sub(self: Any, frame: Array[np.float32, (None, 4)], n: int = 0) -> None: ...


def test_subscriber_checks_dtype_and_shape() -> None:
    validate = subscriber_model(_sub)
    good = np.zeros((3, 4), np.float32)
    assert validate({"frame": _wire(arrays.to_wire(good))})["frame"].shape == (3, 4)
    with pytest.raises(MessageRejected, match=r"field 'frame'.*dtype float64, expected float32"):
        validate({"frame": _wire(arrays.to_wire(good.astype(np.float64)))})
    with pytest.raises(MessageRejected, match=r"shape \(4, 3\), expected \(any, 4\)"):
        validate({"frame": _wire(arrays.to_wire(good.T.copy()))})
    with pytest.raises(MessageRejected, match="expected an array, got int"):
        validate({"frame": 3})


def test_annotated_form_and_unannotated_parameters_receive_ndarrays() -> None:
    def typed(self: Any, a: Annotated[np.ndarray, ArraySpec(np.uint8, (2,))]) -> None: ...
    def loose(self, a, b=None):  # type: ignore[no-untyped-def]
        ...

    item = _wire(arrays.to_wire(np.array([1, 2], np.uint8)))
    for fn in (typed, loose):
        got = subscriber_model(fn)({"a": item})["a"]
        assert isinstance(got, np.ndarray) and got.tolist() == [1, 2]
        with pytest.raises(ValueError, match="read-only"):
            got[0] = 5


def test_shared_memory_round_trip_is_read_only() -> None:
    a = np.random.default_rng(1).random((256, 300)).astype(np.float32)
    try:
        desc = _wire(shm.put("test.ring", a))
        assert desc.tag == shm.SHM_TAG
        got = arrays.incoming({"frame": desc, "n": 1})["frame"]
        assert got.dtype == a.dtype and got.shape == a.shape and got.tobytes() == a.tobytes()
        with pytest.raises(ValueError, match="read-only"):
            got[0, 0] = 1
        with pytest.raises(ValueError):
            got.flags.writeable = True
    finally:
        shm.close_all()


def test_overwritten_slot_is_dropped_not_read_torn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETHER_ARRAYS_SLOTS", "4")
    try:
        first = _wire(shm.put("test.ring", np.full(1000, 1.0)))
        for k in range(4):
            last = _wire(shm.put("test.ring", np.full(1000, float(k))))
        with pytest.raises(ArrayDropped, match="overwritten before it was read"):
            shm.read(first.value)
        assert shm.read(last.value)[0] == 3.0
    finally:
        shm.close_all()


def test_ring_grows_for_a_larger_array_and_unlinks_the_old_segment() -> None:
    try:
        small = _wire(shm.put("test.grow", np.zeros(10)))
        name = small.value[0]
        big = _wire(shm.put("test.grow", np.zeros(300_000)))  # more than 1 MiB slots
        assert big.value[0] != name and not os.path.exists(os.path.join(shm.SHM_DIR, name))
        assert shm.read(big.value).shape == (300_000,)
    finally:
        shm.close_all()
    assert not os.path.exists(os.path.join(shm.SHM_DIR, big.value[0]))


def test_descriptor_pointing_outside_its_segment_is_rejected() -> None:
    try:
        desc = _wire(shm.put("test.bounds", np.zeros(10)))
        name, offset, seq, dtype, _ = desc.value
        with pytest.raises(ArrayError, match="outside"):
            shm.read([name, offset, seq, dtype, [10**9]])
        with pytest.raises(ArrayError, match="holds 80 bytes"):
            shm.read([name, offset, seq, dtype, [5]])
    finally:
        shm.close_all()


def test_remove_stale_unlinks_segments_of_dead_processes_only() -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    path = os.path.join(shm.SHM_DIR, f"ether-arr-{dead}-0123456789abcdef")
    open(path, "wb").close()
    try:
        shm.put("test.live", np.zeros(4))
        removed = shm.remove_stale()
        assert os.path.basename(path) in removed and not os.path.exists(path)
        assert all(f"-{os.getpid()}-" not in name for name in removed)
    finally:
        shm.close_all()
        if os.path.exists(path):
            os.unlink(path)


def test_loaned_array_is_published_without_a_copy_and_turns_read_only() -> None:
    try:
        frame = arrays.loan_array("test.loan", (512, 512), np.float32)
        frame[:] = 7.0
        out = arrays.outgoing({"frame": frame}, "test.loan", shared=True)
        assert out is not None and out["frame"].tag == shm.SHM_TAG
        assert not frame.flags.writeable
        got = arrays.incoming({"frame": _wire(out["frame"])})["frame"]
        assert got.shape == (512, 512) and float(got[3, 4]) == 7.0
    finally:
        shm.release()
        shm.close_all()


def test_small_loan_is_an_ordinary_array() -> None:
    small = arrays.loan_array("test.loan", (4,), np.uint8)
    small[:] = 1
    out = arrays.outgoing({"a": small}, "test.loan", shared=True)
    assert out is not None and out["a"].tag == arrays.MULTI_TAG


def test_inline_only_turns_shared_memory_off_until_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETHER_ARRAYS_SHM_BYTES", raising=False)
    undo = shm.inline_only()
    try:
        assert arrays.shm_threshold() == 0
        out = arrays.outgoing({"a": np.zeros(100_000)}, "t", shared=True)
        assert out is not None and out["a"].tag == arrays.MULTI_TAG
    finally:
        undo()
    assert arrays.shm_threshold() == 64 * 1024


def test_loaned_array_sent_inline_gives_its_slot_back() -> None:
    try:
        frame = arrays.loan_array("test.loan", (512, 512), np.float32)
        frame[:] = 2.0
        out = arrays.outgoing({"frame": frame}, "test.loan", shared=False)  # e.g. a fabric over TCP
        assert out is not None and out["frame"].tag == arrays.MULTI_TAG
        assert not shm._rings["test.loan"]._loaned and not shm._loans
    finally:
        shm.close_all()


def test_annotated_constraints_of_other_types_are_kept_too() -> None:
    def sub(self: Any, n: Annotated[int, Field(gt=0)]) -> None: ...

    assert subscriber_model(sub)({"n": 3}) == {"n": 3}
    with pytest.raises(MessageRejected, match="greater than 0"):
        subscriber_model(sub)({"n": 0})
