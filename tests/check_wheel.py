"""Checks the built wheel: exactly `dispatch` and `ormar_integration`, each typed.

Usage: ``python tests/check_wheel.py DIR`` where DIR holds the one wheel that
``pip wheel --no-deps -w DIR .`` built. Run by ``tox -e wheel``.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGES = {"dispatch", "ormar_integration"}


def check(wheel: Path) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    dist_info = {name.split("/")[0] for name in names if ".dist-info/" in name}
    if len(dist_info) != 1:
        problems.append(f"expected one .dist-info directory, found {sorted(dist_info)}")
    top_level = {name.split("/")[0] for name in names} - dist_info
    if top_level != PACKAGES:
        problems.append(
            f"top-level entries are {sorted(top_level)}, expected {sorted(PACKAGES)}"
        )
    for package in sorted(PACKAGES):
        for required in ("__init__.py", "py.typed"):
            if f"{package}/{required}" not in names:
                problems.append(f"{package}/{required} is missing")
    stray = [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    if stray:
        problems.append(f"compiled files in the wheel: {stray}")
    return problems


def main(directory: str) -> int:
    wheels = sorted(Path(directory).glob("*.whl"))
    if len(wheels) != 1:
        print(f"expected exactly one wheel in {directory}, found {wheels}")
        return 1
    problems = check(wheels[0])
    for problem in problems:
        print(f"{wheels[0].name}: {problem}")
    if not problems:
        print(f"{wheels[0].name}: ok ({', '.join(sorted(PACKAGES))}, both typed)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
