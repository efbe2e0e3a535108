# Types of ether_lite's package API for the host and for users' desktop code (mypy). The .py stays
# annotation-free for boards; tests/test_lite_stubs.py checks each stub names exactly its module's public API.
from collections.abc import Callable

from ether_lite.endpoints import ether_pub as ether_pub
from ether_lite.endpoints import ether_sub as ether_sub
from ether_lite.links import LinkLike
from ether_lite.node import Node as Node
from ether_lite.node import log as log

__version__: str

def run(
    *objs: object,
    link: str | LinkLike = "usb_cdc",
    device_id: str | None = None,
    until: Callable[[], bool] | None = None,
    key: bytes | str | None = None,
) -> Node: ...
