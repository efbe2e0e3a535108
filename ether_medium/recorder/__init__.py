"""Recording with provenance: every selected fabric message on disk with the context to interpret it.

:mod:`~ether_medium.recorder.schema` holds the SQLite tables and their meaning, :mod:`~.store` the connection
that writes and reads them, :mod:`~.provenance` where a session comes from, :mod:`~.recorder` the process that
subscribes, :mod:`~.receiver` its loop that takes messages off the socket, :mod:`~.writer` its thread that
writes in batches, :mod:`~.export` the CSV/Parquet export, :mod:`~.replay` the republishing of a session, and
:mod:`~.service` the entry point the launcher starts.
"""

from ether_medium.errors import SessionNotFound
from ether_medium.recorder.recorder import Recorder, RecordingSummary, run_recorder
from ether_medium.recorder.rows import TopicSelection
from ether_medium.recorder.store import SessionInfo, Store

__all__ = [
    "Recorder",
    "RecordingSummary",
    "SessionInfo",
    "SessionNotFound",
    "Store",
    "TopicSelection",
    "run_recorder",
]
