"""The public names of ether_medium, pinned: a change to them is a change to the API users write against."""

from __future__ import annotations

import inspect

import ether_medium
from ether_medium import errors

PUBLIC = {
    "Ether", "ether", "ether_cleanup", "ether_get", "ether_init", "ether_pub", "ether_save", "ether_shutdown",
    "ether_start", "ether_sub",
    "ArrayDropped", "ArrayError", "AttachError", "BridgeError", "ClassPathError", "ConfigError",
    "DatabaseError", "DecoratorError", "DeliveryError", "DeployError", "DescribeError", "DuplicateKeyError",
    "EnvelopeError", "EtherError", "FabricClosedError", "FabricNotFound", "JoinError", "KeyFileError",
    "LaunchError", "LinkLost", "LinkURLError", "LinkUnavailable", "MessageRejected", "MissingExtra",
    "PreflightError", "RemoteError", "SessionNotFound", "SetupError", "UnpublishableResult",
}  # fmt: skip


def test_the_public_names_are_pinned() -> None:
    assert set(ether_medium.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(ether_medium, name), name


def test_every_error_ether_raises_on_purpose_is_an_ether_error() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert {c.__name__ for c in classes} == set(errors.__all__)
    for cls in classes:
        assert issubclass(cls, ether_medium.EtherError), cls
    # the built-in bases callers relied on before there was one root
    assert issubclass(ether_medium.ConfigError, ValueError)
    assert issubclass(ether_medium.SessionNotFound, LookupError)
    assert issubclass(ether_medium.ClassPathError, ImportError)
    assert issubclass(ether_medium.DeliveryError, RuntimeError)
    assert issubclass(ether_medium.LinkURLError, ether_medium.ConfigError)  # a malformed link URL: config
    assert issubclass(ether_medium.LinkURLError, ether_medium.BridgeError)


def test_no_error_class_is_defined_outside_the_errors_module() -> None:
    """One hierarchy: a module that needs a new error adds it to ether_medium/errors.py."""
    import pkgutil

    for info in pkgutil.walk_packages(ether_medium.__path__, "ether_medium."):
        if info.name in ("ether_medium.errors", "ether_medium.cli") or ".commands" in info.name:
            continue
        module = __import__(info.name, fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and issubclass(cls, BaseException):
                raise AssertionError(f"{info.name} defines {cls.__name__}: move it to ether_medium/errors.py")
