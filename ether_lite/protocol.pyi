# Types of ether_lite/protocol.py for the host (mypy strict on ether_medium). The .py stays annotation-free
# for boards; tests/test_lite_stubs.py checks that this stub names exactly the module's public API.
from collections.abc import Iterable
from typing import Any, Final

VERSION: Final[int]
HELLO: Final[int]
DESCRIBE: Final[int]
PUB: Final[int]
DELIVER: Final[int]
ACK: Final[int]
PING: Final[int]
PONG: Final[int]
LOG: Final[int]
ERROR: Final[int]
QUERY: Final[int]
KIND_NAMES: Final[tuple[str, ...]]
DEVICE_PUBLISHES: Final[int]
DEVICE_SUBSCRIBES: Final[int]
FIELD_TYPES: Final[tuple[str, ...]]
ARRAY_TAGS: Final[dict[str, int]]
ARRAY_TYPES: Final[tuple[str, ...]]
ACK_OK: Final[int]
ACK_UNKNOWN_TOPIC: Final[int]
ACK_BAD_ARGUMENTS: Final[int]
ACK_HANDLER_RAISED: Final[int]
ERR_VERSION: Final[int]
ERR_MALFORMED: Final[int]
ERR_UNKNOWN_TOPIC: Final[int]
ERR_BAD_ARGUMENTS: Final[int]
ERR_OVERSIZE: Final[int]
ERR_NOT_READY: Final[int]
ERR_INTERNAL: Final[int]
DEBUG: Final[int]
INFO: Final[int]
WARNING: Final[int]
ERROR_LEVEL: Final[int]
CRITICAL: Final[int]
REF_LIMIT: Final[int]
MAX_ENDPOINTS: Final[int]
TOPIC_MASK: Final[int]
SEQ_BITS: Final[int]
SEQ_MASK: Final[int]
TIME_MASK: Final[int]
DELIVER_TRIES: Final[int]
DELIVER_TIMEOUT_MS: Final[int]
MAX_MSG_ID: Final[int]

class ProtocolError(ValueError):
    code: int
    text: str
    detail: tuple[Any, ...] | list[Any]
    def __init__(self, code: int, text: str, detail: tuple[Any, ...] | list[Any] = ()) -> None: ...

def header(kind: int, version: int = ...) -> int: ...
def version_of(h: int) -> int: ...
def kind_of(h: int) -> int: ...
def kind_name(kind: int) -> str: ...
def pack_ref(topic_id: int, seq: int, ticks_ms: int) -> int: ...
def unpack_ref(ref: int) -> tuple[int, int, int]: ...
def seq_advance(prev_seq: int, seq: int) -> int: ...
def unwrap_ticks16(ticks16: int, ref_ticks: int, period: int) -> int: ...
def ticks_diff(a: int, b: int, period: int) -> int: ...
def array_tags(ftype: str) -> tuple[int, ...]: ...
def hello(device_id: str, boot_id: int, firmware: str, n_endpoints: int, ticks_period: int) -> list[Any]: ...
def describe(
    topic_id: int, name: str, direction: int, fields: list[list[Any]] | None, every_s: float | None = None
) -> list[Any]: ...
def pub(topic_id: int, seq: int, ticks_ms: int, values: Any) -> list[Any]: ...
def deliver(topic_id: int, msg_id: int, values: Any) -> list[Any]: ...
def ack(msg_id: int, status: int = 0, text: str | None = None) -> list[Any]: ...
def ping(ping_id: int) -> list[Any]: ...
def pong(ping_id: int, ticks_ms: int) -> list[Any]: ...
def log(level: int, text: str) -> list[Any]: ...
def error(code: int, text: str, detail: Any = ()) -> list[Any]: ...
def query(topic_ids: Iterable[int] = ...) -> list[Any]: ...
def check(msg: Any) -> int: ...
