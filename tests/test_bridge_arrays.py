"""Arrays between a board and the fabric, the bridge's part (ether_medium.bridge.arrays; PROTOCOL.md,
"Arrays"): a typed array a board publishes becomes the fabric's inline array (a read-only ndarray for a
subscriber), and what host code sends a board's array field becomes the typed array the board reads."""

from __future__ import annotations

import struct
from typing import Any

import cbor2
import numpy as np
import pytest
from cbor2 import CBORTag
from pydantic import ValidationError

from ether_lite import protocol
from ether_medium.bridge.arrays import MULTI_TAG, to_device, to_device_map
from ether_medium.bridge.endpoints import Endpoint, endpoint_from_describe, format_validation
from ether_medium.errors import DescribeError
from ether_medium.fabric import arrays as fabric_arrays
from ether_medium.fabric.arrays import from_wire, to_wire
from ether_medium.fabric.shm import SHM_TAG


def _endpoint(fields: list[list[Any]], publishes: bool = True, topic_id: int = 0) -> Endpoint:
    direction = protocol.DEVICE_PUBLISHES if publishes else protocol.DEVICE_SUBSCRIBES
    msg = protocol.describe(topic_id, "Scope.trace", direction, fields)
    protocol.check(msg)
    return endpoint_from_describe(msg, {}, None)


def test_the_fabric_form_is_the_one_fabric_arrays_reads() -> None:
    assert MULTI_TAG == fabric_arrays.MULTI_TAG


@pytest.mark.parametrize("ftype", protocol.ARRAY_TYPES)
def test_a_typed_array_from_a_board_becomes_a_read_only_ndarray_of_its_dtype(ftype: str) -> None:
    ep = _endpoint([["wave", ftype], ["n", "i"]])
    dtype = np.dtype("<" + ftype[1] + ftype[2])
    want = (np.arange(5) * 3 - 4).astype(dtype) if ftype[1] != "u" else np.arange(5, dtype=dtype)
    data = ep.data_of([CBORTag(protocol.ARRAY_TAGS[ftype], want.tobytes()), 5])
    item = data["wave"]
    assert item.tag == MULTI_TAG
    # what the fabric carries decodes, in a subscriber, to the same array, read-only
    got = from_wire(cbor2.loads(cbor2.dumps(item)))
    assert got.dtype == dtype and got.tolist() == want.tolist() and not got.flags.writeable
    assert ep.signature() == f"Scope.trace (pub wave: {dtype.name}[], n: int)"


def test_a_big_endian_typed_array_is_read_in_its_order() -> None:
    ep = _endpoint([["wave", "[i2"]])
    got = from_wire(ep.data_of([CBORTag(73, struct.pack(">2h", 1, -300))])["wave"])
    assert got.tolist() == [1, -300] and got.dtype == np.dtype(">i2")


def test_an_array_in_a_field_of_any_type_arrives_as_an_array() -> None:
    ep = _endpoint([["x", "a"]])
    got = ep.data_of([CBORTag(85, struct.pack("<2f", 1.5, 2.0))])["x"]
    assert from_wire(got).tolist() == [1.5, 2.0]
    assert ep.data_of([CBORTag(77, b"\x01")])["x"] == CBORTag(77, b"\x01")  # not an array: as it came
    assert ep.data_of([[1, 2]])["x"] == [1, 2]


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        b"\x01\x00",
        CBORTag(85, struct.pack("<f", 1.0)),  # float32 for an int16 field
        CBORTag(77, b"\x01"),  # half an element
        CBORTag(77, "ab"),
        CBORTag(MULTI_TAG, [[1], CBORTag(77, b"\x01\x00")]),  # the fabric's form is not a board's
    ],
)
def test_a_pub_value_that_is_not_the_described_array_is_rejected(value: Any) -> None:
    ep = _endpoint([["wave", "[i2"]])
    with pytest.raises(ValueError, match=r"field 'wave' is described as int16\[\], got"):
        ep.data_of([value])


def test_a_describe_of_an_array_type_without_typed_arrays_is_malformed() -> None:
    for bad in ("[f2", "[i3", "[", "[h", "i2"):
        with pytest.raises(protocol.ProtocolError, match="array type"):
            protocol.check(protocol.describe(0, "A.b", 0, [["x", bad]]))
    with pytest.raises(protocol.ProtocolError):  # an unhashable type is malformed, not a crash
        protocol.check(protocol.describe(0, "A.b", 0, [["x", ["[i2"]]]))


def test_an_array_field_default_can_only_be_none() -> None:
    sub = _endpoint([["levels", "[u1", None]], publishes=False)
    assert sub.model.model_validate({}).levels is None  # type: ignore[attr-defined]
    with pytest.raises(DescribeError, match="array field 'levels' can only be None"):
        _endpoint([["levels", "[u1", b"\x01"]], publishes=False)


def _deliver(ep: Endpoint, data: dict[str, Any]) -> list[Any]:
    """The values a DELIVER carries (as ether_medium.bridge.delivery makes them), encoded and decoded."""
    checked = ep.model.model_validate(data)
    values = [getattr(checked, n) for n in ep.field_names]
    return list(cbor2.loads(cbor2.dumps(protocol.deliver(ep.topic_id, 1, values), canonical=True))[3:])


def test_host_arrays_and_lists_become_the_typed_arrays_a_board_reads() -> None:
    ep = _endpoint([["levels", "[u1"], ["gain", "[f4"], ["any", "a"]], publishes=False)
    # as an array arrives from the fabric (decoded: tuples inside the tag), big-endian even
    wire = cbor2.loads(cbor2.dumps(to_wire(np.array([1.0, 2.0], ">f4"))))
    got = _deliver(ep, {"levels": [0, 128, 255], "gain": wire, "any": np.array([7, 8], np.int16)})
    assert got == [CBORTag(64, b"\x00\x80\xff"), CBORTag(85, struct.pack("<2f", 1.0, 2.0)),
                   CBORTag(77, struct.pack("<2h", 7, 8))]
    assert _deliver(ep, {"levels": np.array([3], np.uint8), "gain": (0.5,), "any": [1]})[1:] == [
        CBORTag(85, struct.pack("<f", 0.5)), [1]]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (np.zeros(3), r"an array of float64 for a field of uint8\[\]: convert it \(arr.astype\('uint8'\)\)"),
        (np.zeros((2, 2), np.uint8), r"one-dimensional arrays, got shape \(2, 2\): flatten it"),
        ([1, 256], r"a list that does not fit uint8\[\]"),
        (["a"], r"a list that does not fit uint8\[\]"),
        ("abc", r"expected uint8\[\] \(a one-dimensional array, or a list of numbers\)"),
        (np.zeros(2, bool), r"elements a device cannot hold"),
        (CBORTag(SHM_TAG, ["seg", 0, 1, "<u1", [99999]]), r"shared memory does not fit a device's frames"),
        (CBORTag(MULTI_TAG, "junk"), r"not an array the fabric makes"),
    ],
)
def test_what_a_board_cannot_take_is_refused_with_the_reason(value: Any, why: str) -> None:
    ep = _endpoint([["levels", "[u1"]], publishes=False)
    with pytest.raises(ValidationError) as exc:
        ep.model.model_validate({"levels": value})
    assert "levels: Value error, " in format_validation(exc.value)
    with pytest.raises(ValueError, match=why):
        to_device(value, "[u1")


def test_a_keyword_map_keeps_each_arrays_element_type() -> None:
    got = to_device_map({"a": to_wire(np.array([1, 2], np.int32)), "b": 3, "c": [1.5]})
    assert got == {"a": CBORTag(78, struct.pack("<2i", 1, 2)), "b": 3, "c": [1.5]}
    with pytest.raises(ValueError, match="one-dimensional"):
        to_device_map({"a": np.zeros((1, 1))})
