# Types of ether_lite/endpoints.py (see ether_lite/__init__.pyi).
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

# a field: its name, or (name, type) with type one of "fibsya", or (name, type, default)
FieldSpec = str | tuple[str, str] | tuple[str, str, Any] | list[Any]

def ether_pub(
    topic: str | None = None, every: float | None = None, fields: Iterable[FieldSpec] | None = None
) -> Callable[[_F], _F]: ...
def ether_sub(topic: str | None = None, fields: Iterable[FieldSpec] | None = None) -> Callable[[_F], _F]: ...
