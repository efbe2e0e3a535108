"""A subscriber's signature as a pydantic model: the fast path for exact scalar types gives what the model
gives, and everything else goes through the model."""

from __future__ import annotations

from typing import Any

import pytest

from ether_medium.errors import MessageRejected
from ether_medium.fabric.validation import subscriber_model


class Target:
    def scalars(self, x: int, y: float = 1.0, name: str = "n", flag: bool = False, anything=None) -> None: ...  # type: ignore[no-untyped-def]

    def listy(self, values: list[int]) -> None: ...

    def extra(self, x: int, **rest: Any) -> None: ...


@pytest.mark.parametrize(
    "data,expected",
    [
        ({"x": 1}, {"x": 1, "y": 1.0, "name": "n", "flag": False, "anything": None}),
        ({"x": 1, "y": 2.5, "name": "a", "flag": True, "anything": [1]}, None),
        ({"x": 1, "y": 2}, {"x": 1, "y": 2.0, "name": "n", "flag": False, "anything": None}),  # int -> float
        ({"x": 1, "unknown": 3}, {"x": 1, "y": 1.0, "name": "n", "flag": False, "anything": None}),  # ignored
        ({"x": "7"}, {"x": 7, "y": 1.0, "name": "n", "flag": False, "anything": None}),  # lax, like pydantic
    ],
)
def test_scalars(data: dict[str, Any], expected: dict[str, Any] | None) -> None:
    got = subscriber_model(Target.scalars)(data)
    assert {**{"y": 1.0, "name": "n", "flag": False, "anything": None}, **got} == (expected or data)
    assert type(got.get("y", 1.0)) is float


@pytest.mark.parametrize("data,field", [({}, "x"), ({"x": "abc"}, "x"), ({"x": 1, "y": "fast"}, "y")])
def test_rejections_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(MessageRejected, match=f"field '{field}'"):
        subscriber_model(Target.scalars)(data)


def test_containers_and_extra_keywords_use_the_model() -> None:
    assert subscriber_model(Target.listy)({"values": ["1", 2]}) == {"values": [1, 2]}
    assert subscriber_model(Target.extra)({"x": 1, "z": 2}) == {"x": 1, "z": 2}
