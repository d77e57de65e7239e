"""Renders rolesync's Helm chart with the real Helm engine (helm-python-sdk, Helm v4).

As a program: `python tests/python/chart.py ['{"values": ...}']` prints the rendered objects
as one JSON list, for tests written in Rust.
"""

import json
import pathlib
import sys

import helm_python as helm
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "rolesync"
RELEASE = "rolesync"
NAMESPACE = "rolesync-system"


def render_manifests(values=None, name=RELEASE, namespace=NAMESPACE):
    """Template path -> rendered text, as `helm template` would produce (NOTES.txt included)."""
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values or {}, name=name, namespace=namespace, is_install=True)


def render(values=None, name=RELEASE, namespace=NAMESPACE):
    """Every object the chart installs with `values`: its CRDs first, then its templates."""
    objects = [doc for doc in yaml.safe_load_all((CHART / "crds" / "rolesync.dev.yaml").read_text()) if doc]
    for path, text in sorted(render_manifests(values, name, namespace).items()):
        if path.endswith(".txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


if __name__ == "__main__":
    values = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    json.dump(render(values), sys.stdout)
