"""``ether graph CONFIG``: the wiring of a config as a mermaid flowchart: which instance or device publishes
and subscribes which topic (instances from the decorators of their classes and the config's ``registry:``,
simulated devices from their board code; see :mod:`ether_medium.wiring`). Paste the output into any mermaid
renderer (GitHub renders fenced ``mermaid`` blocks).

``--check`` prints the wiring problems instead (subscribers nothing feeds, publishers nobody hears, fields
that do not match), and exits 1 when there is an error.
"""

from __future__ import annotations

import argparse
import re
import sys

from ether_medium.config import EtherConfig, load_config
from ether_medium.errors import ClassPathError, ConfigError
from ether_medium.wiring import Endpoint, check_endpoints, endpoints_of

HELP = "print the wiring of a config as a mermaid diagram (--check: its wiring problems)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="the YAML file")
    parser.add_argument("--check", action="store_true", help="report wiring problems instead of drawing")


def _node(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"


def mermaid(cfg: EtherConfig, endpoints: list[Endpoint] | None = None) -> str:
    """The flowchart text for ``cfg`` (imports the instances' classes in this process)."""
    if endpoints is None:
        endpoints, _ = endpoints_of(cfg)
    lines = ["flowchart LR"]
    for name, inst in cfg.instances.items():
        lines.append(f'    {_node("i", name)}["{name}<br/>{inst.class_path.rpartition(".")[2]}"]')
    for dev in cfg.devices:
        lines.append(f'    {_node("d", dev)}[/"{dev}<br/>device"/]')
    topics: set[str] = set()
    edges: list[str] = []
    for e in endpoints:
        topics.add(e.topic)
        owner = _node("d" if e.device else "i", e.owner)
        if e.role == "pub":
            edges.append(f'    {owner} -- "{e.method}" --> {_node("t", e.topic)}')
        elif e.role == "sub":
            edges.append(f"    {_node('t', e.topic)} --> {owner}")
        else:
            edges.append(f'    {_node("t", e.topic)} -. "get" .-> {owner}')
    for dev_name, dev_cfg in cfg.devices.items():  # renamed topics of real boards, not read from code
        for fabric_topic in dev_cfg.topics.values():
            if fabric_topic not in topics:
                topics.add(fabric_topic)
                edges.append(f"    {_node('d', dev_name)} --> {_node('t', fabric_topic)}")
    for topic in sorted(topics):
        lines.append(f'    {_node("t", topic)}(["{topic}"])')
    return "\n".join(lines + edges) + "\n"


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
        endpoints, notes = endpoints_of(cfg)
    except (ConfigError, ClassPathError) as exc:
        print(f"ether graph: {exc}", file=sys.stderr)
        return 2
    if not args.check:
        sys.stdout.write(mermaid(cfg, endpoints))
        return 0
    problems = check_endpoints(endpoints)
    for p in problems:
        print(f"{args.config}: {p}")
    for note in notes:
        print(f"{args.config}: note: {note}")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"{args.config}: wiring: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0
