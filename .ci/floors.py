"""Prints pip constraints that pin every dependency to the floor its pyproject.toml states (torch excepted).

Usage: python .ci/floors.py pyproject.toml plugins/*/pyproject.toml > floors.txt

Every requirement of ``[project] dependencies`` and of every extra must name a ``>=`` floor; one without a floor
is an error, so a new dependency cannot slip into the lowest-versions job untested. torch is left to the local
build (other torch versions are GBs of wheels); the gen-framework distributions are the ones being tested.
"""

from __future__ import annotations

import sys
import tomllib

from packaging.requirements import Requirement

SKIP = {"torch"}


def floors(paths: list[str]) -> dict[str, str]:
    """Distribution name -> floor version, over the dependencies and extras of every pyproject at ``paths``."""
    found: dict[str, str] = {}
    for path in paths:
        with open(path, "rb") as handle:
            project = tomllib.load(handle)["project"]
        own = project["name"]
        lines = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            lines.extend(extra)
        for line in lines:
            requirement = Requirement(line)
            name = requirement.name.lower().replace("_", "-")
            if name in SKIP or name.startswith("gen-framework") or name == own:
                continue
            lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
            if len(lower) != 1:
                sys.exit(f"{path}: {line!r} must state exactly one '>=' floor")
            if found.get(name, lower[0]) != lower[0]:
                sys.exit(f"{path}: {name} floor {lower[0]} differs from {found[name]} stated elsewhere")
            found[name] = lower[0]
    return found


if __name__ == "__main__":
    for name, version in sorted(floors(sys.argv[1:]).items()):
        print(f"{name}=={version}")
