"""What can go wrong between the bridge and a device, as a few exception types.

Following trio's split: the link URL itself is wrong (:class:`LinkURLError`, a ``ValueError``: fix the
configuration; retrying cannot help), the link could not be opened now (:class:`LinkUnavailable`: retry
later), the link broke under us (:class:`LinkLost`: the device was unplugged, the pty closed, the child
exited), and the device answered but cannot be attached as configured (:class:`AttachError`: wrong protocol
version, wrong device id, a DESCRIBE that cannot be mapped). OS errors are translated at the link boundary,
chained ``from`` the cause.
"""

from __future__ import annotations

__all__ = ["AttachError", "BridgeError", "LinkLost", "LinkURLError", "LinkUnavailable"]


class BridgeError(Exception):
    """Base of the bridge's errors."""


class LinkURLError(BridgeError, ValueError):
    """A link URL that is not well-formed (unknown scheme, missing port, bad option): a configuration error.
    ``url`` is the URL as given, ``expected`` says what was expected instead."""

    def __init__(self, url: str, expected: str) -> None:
        self.url = url
        self.expected = expected
        super().__init__(f"link {url!r}: {expected}")


class LinkUnavailable(BridgeError):
    """The link cannot be opened now (port absent or busy, address in use); the bridge retries."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot open {url}: {reason}")


class LinkLost(BridgeError):
    """An open link broke: unplugged, pty closed (EIO), child process exited, silence past the lease."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"link {url} lost: {reason}")


class AttachError(BridgeError):
    """The device answered but cannot be attached as configured; the message says what to change."""
