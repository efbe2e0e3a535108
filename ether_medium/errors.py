"""Every error Ether raises on purpose, in one hierarchy: ``except ether_medium.EtherError`` catches them all.

Each class also keeps the built-in base its callers relied on before there was one root (a bad config is
still a ``ValueError``, an unknown session still a ``LookupError``), so ``except ValueError`` keeps working.
The message of each says what was wrong, where, and what to do; the offending values are attributes too.

    EtherError
    ├── ConfigError (ValueError)            a config file, a key, a link URL that cannot be used
    │   ├── KeyFileError                    a CURVE key file that cannot be used
    │   ├── PreflightError                  a config whose classes, devices or recording path cannot work
    │   └── LinkURLError (BridgeError too)  a link URL that is not well-formed (retrying cannot help)
    ├── DuplicateKeyError (ValueError)      a key given twice in one YAML mapping (becomes a ConfigError)
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
    ├── DecoratorError (ValueError)         a decorator given options that cannot work
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
    "DecoratorError",
    "DeliveryError",
    "DeployError",
    "DescribeError",
    "DuplicateKeyError",
    "EnvelopeError",
    "EtherError",
    "FabricClosedError",
    "FabricNotFound",
    "JoinError",
    "KeyFileError",
    "LaunchError",
    "LinkLost",
    "LinkURLError",
    "LinkUnavailable",
    "MessageRejected",
    "MissingExtra",
    "PreflightError",
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


class PreflightError(ConfigError):
    """A config that parses but cannot run (pre-flight, before any process starts): a class that does not
    import, a device module that does not compile, a recording path that cannot be written. ``problems``
    holds one line per problem (key path and what was wrong)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(source, problems)
        self.args = (
            f"config {source} cannot run ({len(problems)} problem{'s' * (len(problems) != 1)}, nothing was "
            "started):\n  " + "\n  ".join(f"{source}: {p}" for p in problems),
        )


class DuplicateKeyError(EtherError, ValueError):
    """A key given twice in one YAML mapping; ``load_config`` reports it as a :class:`ConfigError` with the
    file's name."""

    def __init__(self, key: object, line: int, first_line: int) -> None:
        super().__init__(f"line {line}: key {key!r} appears twice in the same mapping (first on line "
                         f"{first_line}); the second would silently replace the first: remove or rename one")
        self.key, self.line, self.first_line = key, line, first_line


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
    """A message whose data does not fit the subscriber's signature. ``reason`` is the message without the
    offending values (what rejections of one kind have in common: they are counted under it)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


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


class DecoratorError(EtherError, ValueError):
    """A decorator given options that cannot work (``every=0``, ``retries=-1``, two different periods on one
    method); raised where the class is defined, so the message names the method."""


class RemoteError(EtherError, RuntimeError):
    """The service answered with an error (it rejected the parameters or its method raised).

    ``remote_type`` is the class name of the exception on the other side (``"ValueError"``;
    ``"MessageRejected"`` for parameters that do not fit the method), ``instance`` the process that answered,
    ``reason`` its message; each may be ``None`` for an answer from an older or non-instance service."""

    def __init__(
        self, topic: str, message: str, remote_type: str | None = None, instance: str | None = None
    ) -> None:
        super().__init__(f"ether.get({topic!r}) failed: {message}")
        self.topic = topic
        self.reason = message
        self.remote_type = remote_type
        self.instance = instance


class BridgeError(EtherError):
    """Base of the bridge's errors."""


class LinkURLError(ConfigError, BridgeError):
    """A link URL that is not well-formed (unknown scheme, no port, a bad option): a configuration error,
    which retrying cannot fix. ``url`` is the URL as given, ``expected`` what was expected instead."""

    def __init__(self, url: str, expected: str) -> None:
        EtherError.__init__(self, f"link {url!r}: {expected}")
        self.source = url
        self.problems = [expected]
        self.url = url
        self.expected = expected


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
