"""Every error Ether raises on purpose, in one hierarchy: ``except ether_medium.EtherError`` catches them all.

Each class also keeps the built-in base its callers relied on before there was one root (a bad config is
still a ``ValueError``, an unknown session still a ``LookupError``), so ``except ValueError`` keeps working.
The message of each says what was wrong, where, and what to do; the offending values are attributes too.

    EtherError
    ├── ConfigError (ValueError)            a config file, a key, a link URL that cannot be used
    │   └── KeyFileError                    a CURVE key file that cannot be used
    ├── LaunchError (RuntimeError)          the fabric used the wrong way, or it could not start
    │   └── JoinError                       this machine cannot join a session
    ├── FabricClosedError (RuntimeError)    a fabric client used after close()
    ├── EnvelopeError (ValueError)          bytes from the fabric that are not a message
    ├── MessageRejected (ValueError)        a message that does not fit a subscriber's signature
    │   └── ArrayDropped                    a shared-memory array overwritten before a subscriber read it
    ├── ArrayError (ValueError)             an array that cannot be published, or bytes that are no array
    ├── UnpublishableResult (TypeError)     a publisher's return value that cannot go on the fabric
    ├── SetupError (RuntimeError)           an instance whose constructor raised
    ├── ClassPathError (ImportError)        a class_path that names no importable class
    ├── RemoteError (RuntimeError)          an ether_get answered with an error
    ├── BridgeError                         the device side: links and attaching
    │   ├── LinkUnavailable                 a link that cannot be opened now (retried)
    │   ├── LinkLost                        an open link that broke (reconnected)
    │   ├── AttachError                     a device that answered but cannot be attached as configured
    │   └── DescribeError (ValueError)      a DESCRIBE that cannot become a fabric topic
    ├── DeliveryError (RuntimeError)        a device that did not take a message
    ├── DeployError                         copying onto a board cannot go on
    ├── SessionNotFound (LookupError)       a session reference that names no single session
    ├── DatabaseError                       a file this version cannot use as its recording database
    ├── FabricNotFound (RuntimeError)       no running fabric to talk to
    └── MissingExtra (RuntimeError)         an optional dependency a feature needs is not installed
"""

from __future__ import annotations

__all__ = [
    "ArrayDropped",
    "ArrayError",
    "AttachError",
    "BridgeError",
    "ClassPathError",
    "ConfigError",
    "DatabaseError",
    "DeliveryError",
    "DeployError",
    "DescribeError",
    "EnvelopeError",
    "EtherError",
    "FabricClosedError",
    "FabricNotFound",
    "JoinError",
    "KeyFileError",
    "LaunchError",
    "LinkLost",
    "LinkUnavailable",
    "MessageRejected",
    "MissingExtra",
    "RemoteError",
    "SessionNotFound",
    "SetupError",
    "UnpublishableResult",
]


class EtherError(Exception):
    """The root of every error Ether raises on purpose."""


class ConfigError(EtherError, ValueError):
    """A config that cannot be used; the message names file, key path and what was expected."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            f"invalid Ether config {source}:\n  " + "\n  ".join(f"{source}: {p}" for p in problems)
        )


class KeyFileError(EtherError, ValueError):
    """A key file that cannot be used; the message names the file, the config key and what to do."""


class LaunchError(EtherError, RuntimeError):
    """The fabric was used the wrong way (for example ``start`` before ``tap``) or could not start."""


class JoinError(LaunchError):
    """This machine cannot join the session; the message says why and what to do."""


class FabricClosedError(EtherError, RuntimeError):
    """A fabric client was used after it was closed."""


class EnvelopeError(EtherError, ValueError):
    """A fabric message that is not ``[topic, CBOR map]`` with the envelope's fields."""


class MessageRejected(EtherError, ValueError):
    """A message whose data does not fit the subscriber's signature."""


class ArrayDropped(MessageRejected):
    """A shared-memory array whose slot the publisher overwrote before (or while) a subscriber read it: the
    message is dropped for that subscriber (never read torn) and counted."""


class ArrayError(EtherError, ValueError):
    """An array that cannot be published (an object or string dtype), or received bytes that are not a
    well-formed array."""


class UnpublishableResult(EtherError, TypeError):
    """A publisher's return value that cannot go on the fabric."""


class SetupError(EtherError, RuntimeError):
    """An instance that cannot be set up (its constructor raised); the message says which and why."""


class ClassPathError(EtherError, ImportError):
    """A ``class_path`` (or registry key) that does not name an importable class."""


class RemoteError(EtherError, RuntimeError):
    """The service answered with an error (it rejected the parameters or its method raised)."""

    def __init__(self, topic: str, message: str) -> None:
        super().__init__(f"ether.get({topic!r}) failed: {message}")
        self.topic = topic


class BridgeError(EtherError):
    """Base of the bridge's errors."""


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


class DescribeError(BridgeError, ValueError):
    """A DESCRIBE that cannot become a fabric topic; the message says what and how to fix it on the board."""


class DeliveryError(EtherError, RuntimeError):
    """The device did not take a message; ``reason`` says why (from the bridge)."""

    def __init__(self, device: str, topic: str, reason: str) -> None:
        super().__init__(reason)
        self.device = device
        self.topic = topic
        self.reason = reason


class DeployError(EtherError):
    """Deployment cannot go on; the message says what is wrong, where, and what to do."""


class SessionNotFound(EtherError, LookupError):
    """A session reference (id, unique prefix or ``latest``) that names no single session."""


class DatabaseError(EtherError):
    """A file that this version of Ether cannot use as its recording database; the message says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class FabricNotFound(EtherError, RuntimeError):
    """No running fabric to talk to."""


class MissingExtra(EtherError, RuntimeError):
    """An optional dependency that a feature needs is not installed."""
