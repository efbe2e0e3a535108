"""CURVE keys and authentication for a fabric that spans several machines.

Keys live in files in ZeroMQ's certificate format (``zmq.auth``): ``NAME.key`` holds a public key and may be
copied anywhere; ``NAME.key_secret`` holds the key pair and stays on its machine. ``ether keys DIR`` makes
them (:func:`create_keys`).

* The broker machine has a server key pair (``fabric.curve.key``, put on its TCP endpoints by
  :class:`ether_medium.fabric.broker.TcpListener`) and a directory of the public keys of the
  machines allowed to join (``fabric.curve.authorized``). :class:`KeyAuthenticator` (a ZAP handler,
  ``zmq.auth.thread.ThreadAuthenticator``) accepts exactly those keys; a refused key is logged with the peer's
  address (once per key and 10 s); the directory is read again when a file was added to it, so a key copied
  there later is accepted without a restart.
* A joining machine has a client key pair (``fabric.curve.key``) and the broker's public key
  (``fabric.curve.server_key``): :class:`ClientKeys` puts them on each socket before it connects.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import shlex
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from ether_medium.errors import KeyFileError

__all__ = [
    "NO_CURVE_HINT",
    "ClientKeys",
    "KeyAuthenticator",
    "KeyFileError",
    "check_private",
    "client_keys",
    "create_keys",
    "is_loopback",
    "load_key_pair",
    "load_public_key",
]

log = logging.getLogger("ether")

NO_CURVE_HINT = (
    "create key pairs with `ether keys DIR` on each machine, then set fabric.curve.key (this machine's "
    "NAME.key_secret) and, on the broker machine, fabric.curve.authorized (a directory holding the joining "
    "machines' NAME.key files) or, on a joining machine, fabric.curve.server_key (the broker machine's "
    "NAME.key)"
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.x.y.z``, ``::1``)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost, or a wildcard such as * or 0.0.0.0


def create_keys(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Create ``DIR/NAME.key`` (public, mode 0644) and ``DIR/NAME.key_secret`` (the pair, mode 0600 from the
    first byte: the file is created with that mode, never readable by others, even for a moment). Refuses
    to overwrite an existing pair."""
    folder = Path(directory)
    public_path, secret_path = folder / f"{name}.key", folder / f"{name}.key_secret"
    for path in (public_path, secret_path):
        if path.exists():
            raise FileExistsError(f"{path} exists already; choose another name (--name) or directory")
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.curve_keypair()
    made = time.strftime("%Y-%m-%d %H:%M:%S")
    keys = f'metadata\ncurve\n    public-key = "{public.decode()}"\n'
    _write_new(secret_path, 0o600, f"#   ZeroMQ CURVE **Secret** Certificate, made by `ether keys` {made}\n"
               "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
               f'{keys}    secret-key = "{secret.decode()}"\n')
    _write_new(public_path, 0o644, f"#   ZeroMQ CURVE Public Certificate, made by `ether keys` {made}\n"
               "#   Exchange securely, or use a secure mechanism to verify the contents\n"
               "#   of this file after exchange. Store public certificates in your home\n"
               "#   directory, in the .curve subdirectory.\n\n"
               f"{keys}")
    return public_path, secret_path


def _write_new(path: Path, mode: int, text: str) -> None:
    """Create ``path`` with ``mode`` (never more, whatever the umask) and write ``text``; refuses an
    existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def check_private(path: str, where: str) -> None:
    """Refuse a secret key file that users other than its owner can read or write, saying how to fix it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # _load says what is wrong with a file that cannot be read
    if mode & 0o077:
        raise KeyFileError(
            f"{where}: the secret key file {path!r} can be read or written by other users (mode "
            f"{stat.S_IMODE(mode):04o}); a secret key must be private: run `chmod 600 {shlex.quote(path)}` "
            "(and make a new pair with `ether keys` if others may have copied it)"
        )


def _load(path: str, where: str) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{where}: cannot read the key file {path!r} ({exc}); {NO_CURVE_HINT}") from exc


def load_key_pair(path: str, where: str = "fabric.curve.key") -> tuple[bytes, bytes]:
    """The (public, secret) keys (Z85) of a ``NAME.key_secret`` file."""
    public, secret = _load(path, where)
    if secret is not None:
        check_private(path, where)
    if secret is None:
        raise KeyFileError(
            f"{where}: {path!r} holds only a public key; give this machine's NAME.key_secret file "
            f"(made by `ether keys DIR`)"
        )
    return public, secret


def load_public_key(path: str, where: str = "fabric.curve.server_key") -> bytes:
    """The public key (Z85) of a ``NAME.key`` (or ``NAME.key_secret``) file."""
    return _load(path, where)[0]


@dataclass(frozen=True)
class ClientKeys:
    """A joining machine's key pair and the broker's public key."""

    public: bytes
    secret: bytes
    server: bytes

    def apply(self, sock: zmq.Socket[Any]) -> None:
        """Make the connections ``sock`` opens from now on CURVE clients of the broker."""
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret)


@functools.lru_cache(maxsize=8)
def client_keys(key_file: str, server_key_file: str) -> ClientKeys:
    """Load (once per process) the client keys named by a
    :class:`ether_medium.fabric.broker.BrokerAddresses`."""
    public, secret = load_key_pair(key_file)
    return ClientKeys(public, secret, load_public_key(server_key_file))


class KeyAuthenticator(ThreadAuthenticator):
    """A ZAP handler (a thread) that accepts the CURVE clients whose public key is in ``directory``.

    Start it with :meth:`start` in the broker's context *before* the broker binds; :meth:`stop` it before the
    context is destroyed. ``refused`` counts the refused connection attempts.
    """

    RELOG_S = 10.0

    def __init__(self, context: zmq.Context[Any], directory: str | None) -> None:
        super().__init__(context, log=logging.getLogger("ether.auth"))
        self.directory = directory
        self.refused = 0
        self._keys: set[bytes] = set()
        self._admitted: set[bytes] = set()  # admitted in memory (admit), whatever the directory holds
        self._version: tuple[int, int] | None = None  # the directory's (mtime, entries) when it was read
        self._logged: dict[bytes, float] = {}
        self._peer = ""
        self._lock = threading.Lock()
        self.reload()

    @property
    def authorized_count(self) -> int:
        with self._lock:
            return len(self._keys)

    def admit(self, public: bytes) -> None:
        """Admit ``public`` (Z85) too: a key made in memory for this session (the Ray engine's)."""
        with self._lock:
            self._admitted.add(public)

    def _current_version(self) -> tuple[int, int] | None:
        if self.directory is None:
            return None
        try:
            return os.stat(self.directory).st_mtime_ns, len(os.listdir(self.directory))
        except OSError:
            return None

    def reload(self) -> int:
        """Read the directory of authorized public keys again; returns how many there are."""
        version = self._current_version()
        keys = set()
        if version is not None and self.directory is not None:
            keys = set(zmq.auth.load_certificates(self.directory))
        with self._lock:
            self._keys = keys
            self._version = version
        return len(keys)

    def start(self) -> None:
        super().start()
        self.configure_curve_callback("*", credentials_provider=self)

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        # remember the peer's address for the refusal message (frame 3 of a ZAP request)
        self._peer = msg[3].decode("utf-8", "replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        """The credentials provider's check (called in the authenticator's thread)."""
        with self._lock:
            if key in self._keys or key in self._admitted:
                return True
            known = self._version
        if self._current_version() != known:  # a key file was added (or removed) since the last read
            self.reload()
            with self._lock:
                if key in self._keys:
                    return True
        self.refused += 1
        now = time.monotonic()
        if now - self._logged.get(key, -self.RELOG_S) >= self.RELOG_S:
            self._logged[key] = now
            log.warning(
                "refused a machine joining the fabric from %s: its public key %s is not in %s (copy its "
                "NAME.key file there to let it join; %d refusals so far)",
                self._peer or "?",
                key.decode("ascii", "replace"),
                self.directory,
                self.refused,
            )
        return False
