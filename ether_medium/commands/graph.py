"""``ether graph CONFIG``: the wiring of a config as a mermaid flowchart: which instance publishes and
subscribes which topic, from the decorators of its class and the config's ``registry:``. Paste the output
into any mermaid renderer (GitHub renders fenced ``mermaid`` blocks)."""

from __future__ import annotations

import argparse
import os
import re
import sys

from ether_medium.config import EtherConfig, load_config
from ether_medium.errors import ClassPathError, ConfigError
from ether_medium.fabric.decorators import ether_methods
from ether_medium.fabric.instance import apply_registry_config, load_class

HELP = "print the wiring of a config as a mermaid diagram"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="the YAML file")


def _node(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"


def mermaid(cfg: EtherConfig) -> str:
    """The flowchart text for ``cfg`` (imports the instances' classes in this process)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    apply_registry_config(cfg.raw.get("registry") or {})
    lines = ["flowchart LR"]
    topics: set[str] = set()
    edges: list[str] = []
    for name, inst in cfg.instances.items():
        cls = load_class(inst.class_path, f"instances.{name}.class_path")
        lines.append(f'    {_node("i", name)}["{name}<br/>{cls.__name__}"]')
        for meta in ether_methods(cls).values():
            for topic in meta.pub_topics:
                topics.add(topic)
                edges.append(f'    {_node("i", name)} -- "{meta.name}" --> {_node("t", topic)}')
            for topic in meta.sub_topics:
                topics.add(topic)
                edges.append(f"    {_node('t', topic)} --> {_node('i', name)}")
            for topic in meta.get_topics:
                topics.add(topic)
                edges.append(f'    {_node("t", topic)} -. "get" .-> {_node("i", name)}')
    for dev in cfg.devices:
        lines.append(f'    {_node("d", dev)}[/"{dev}<br/>device"/]')
        for fabric_topic in cfg.devices[dev].topics.values():
            topics.add(fabric_topic)
            edges.append(f"    {_node('d', dev)} --> {_node('t', fabric_topic)}")
    for topic in sorted(topics):
        lines.append(f'    {_node("t", topic)}(["{topic}"])')
    return "\n".join(lines + edges) + "\n"


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
        sys.stdout.write(mermaid(cfg))
    except (ConfigError, ClassPathError) as exc:
        print(f"ether graph: {exc}", file=sys.stderr)
        return 2
    return 0
