"""The fabric: a ZeroMQ broker, the clients that connect to it, and the instances the launcher runs.

``broker`` (XPUB/XSUB proxy, addresses), ``envelope`` (the bytes of one fabric message), ``client`` (one
process's connection), ``decorators`` and ``validation`` (what a user's class declares and how its messages
are checked), ``instance`` (running one decorated object, built from ``classes``, ``publishing``, ``dispatch``
(the receive loop), ``replies`` (answering requests), ``lifecycle`` and ``schedule``), ``requests``
(``ether_get``), ``launcher`` and ``supervisor`` (starting and watching processes), ``statefile`` (how other
commands find a running fabric), ``process`` and ``child`` (how a process is started), ``service``
(non-instance processes: bridge, recorder), ``joiner`` and ``remote`` (machines that join a session),
``curve`` (keys for TCP beyond one machine). The fabric's own topic names are :mod:`ether_medium.topics`.
"""
