"""Seeing a running rig from outside it: live topics and rates, statuses, metrics, plots.

Nothing here is part of the fabric's hot path. An observer is one more subscriber of the broker that takes
care never to slow the rig: it reads fast topics only in short windows (:mod:`.sampler`) and computes
counts and rates from the publishers' own sequence numbers, which every message carries.
"""
