"""The fabric's own topic names (``Ether.*``): lifecycle, process presence, logging, devices, recording.

Every module that publishes or listens to one of these imports it from here; a user's topic never starts with
``Ether.`` (the config refuses such names). The payload of each is documented beside it.
"""

from __future__ import annotations

from typing import Literal

Phase = Literal["init", "start", "save", "cleanup", "shutdown"]
LIFECYCLE: tuple[Phase, ...] = ("init", "start", "save", "cleanup", "shutdown")

PREFIX = "Ether."

# lifecycle phases, published by the launcher in this order; every instance answers DONE for the phases
# it waits on (init, save, cleanup)
INIT = "Ether.init"
START = "Ether.start"
SAVE = "Ether.save"
CLEANUP = "Ether.cleanup"
SHUTDOWN = "Ether.shutdown"
PHASES: dict[str, Phase] = {
    INIT: "init", START: "start", SAVE: "save", CLEANUP: "cleanup", SHUTDOWN: "shutdown"
}  # fmt: skip

DONE = "Ether.done"  # {name, phase}: an instance finished a phase's handlers
SAVED = "Ether.saved"  # {name, ...}: what an instance's save handlers returned (always recorded)

# presence of processes
READY = "Ether.ready"  # {name}: a process (re)started and handshook with the broker
ROLLCALL = "Ether.rollcall"  # {}: the launcher asks every process to say READY
BYE = "Ether.bye"  # {name}: a process is leaving on purpose
EXITED = "Ether.exited"  # {name, code}: the launcher saw a process die without saying bye
JOIN = "Ether.join"  # {name, host, pid, names}: a machine asks to join the session
STATUS = "Ether.status"  # a request (reply_to set): the launcher answers {session, children: [...]}
REJECTED = "Ether.rejected"  # {name, topic, source, subscriber, reason}: a subscriber refused a message

# what went wrong in a process, cumulative since it started (the launcher's run summary and session health):
# {name, pid, rejected: [[topic, subscriber, reason, count], ...]} from an instance,
# {name, pid, deliveries_failed, detached, detach_reason} from a bridge
HEALTH = "Ether.health"

LOG = "Ether.log"  # one log record of any process or device (ether_medium.logs)
STDOUT = "Ether.stdout"  # {name, text}: lines a process printed, for the tap process's stdout (Ray engine)
DEVICE = "Ether.device"  # {name, state, ...}: a device attached or detached (the bridge)
BRIDGE_PREFIX = "Ether.bridge."  # Ether.bridge.NAME: requests to the bridge of device NAME

RECORDER_PREFIX = "Ether.recorder."  # the recorder's own messages (probes, progress): never recorded
RECORDER_PROGRESS = "Ether.recorder.progress"  # {name, received, committed, pending} while it drains

ALWAYS_RECORDED = (SAVED, LOG, DEVICE, EXITED)


def is_fabric_topic(topic: str) -> bool:
    """Whether ``topic`` is one of the fabric's own (``Ether.*``), not a user's."""
    return topic.startswith(PREFIX)
