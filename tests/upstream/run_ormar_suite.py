"""Runs ormar's own test suite without, then with, the integration; compares.

The drop-in promise: every test of ormar's suite has the same outcome with
``ormar_integration`` installed before the tests' models are declared as
without it. ormar's tests are not copied into this repository: they are
taken from ormar's source distribution on the package index, at the version
installed in the running environment, on a SQLite file in a scratch folder.
Both runs must also be free of failures and errors, so that the comparison
is made on a suite that works in this environment.

Usage: ``python tests/upstream/run_ormar_suite.py <scratch folder>``
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import ormar

HERE = Path(__file__).resolve().parent
RUNS = {"without": [], "with": ["-p", "install_integration"]}
"""Run name -> extra pytest arguments."""


def fetch_sources(scratch: Path) -> Path:
    """Downloads and unpacks ormar's sdist; returns the folder holding tests/."""
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    requirement = f"ormar=={ormar.__version__}"
    subprocess.run(
        [*pip, "--no-binary", ":all:", requirement, "-d", str(scratch)], check=True
    )
    (archive,) = scratch.glob("ormar-*.tar.gz")
    with tarfile.open(archive) as unpacking:
        unpacking.extractall(scratch, filter="data")
    (source,) = (path.parent for path in scratch.glob("ormar-*/tests"))
    return source


def outcomes(junit: Path) -> dict[str, str]:
    """Test id -> passed, skipped, failure or error, from a JUnit XML report."""
    found = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        tags = {child.tag for child in case}
        kinds = [kind for kind in ("failure", "error", "skipped") if kind in tags]
        found[f"{case.get('classname')}::{case.get('name')}"] = (kinds or ["passed"])[0]
    return found


def run_suite(source: Path, scratch: Path, name: str) -> dict[str, str]:
    """Runs a fresh copy of ormar's tests and returns each test's outcome."""
    folder = scratch / name
    shutil.copytree(source / "tests", folder / "tests")
    shutil.copy(source / "pyproject.toml", folder / "pyproject.toml")
    junit = folder / "junit.xml"
    paths = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    environment.pop("DATABASE_URL", None)  # ormar's default: a SQLite file here
    options = ["-q", "--disable-warnings", "-p", "no:cacheprovider", *RUNS[name]]
    subprocess.run(
        [sys.executable, "-m", "pytest", *options, f"--junitxml={junit}", "tests"],
        cwd=folder,
        env=environment,
        check=False,  # judged from the report below
    )
    return outcomes(junit)


def main(scratch: Path) -> int:
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    source = fetch_sources(scratch)
    results = {name: run_suite(source, scratch, name) for name in RUNS}
    without, with_ = results["without"], results["with"]
    for name, found in results.items():
        counts = dict(Counter(found.values()))
        print(f"ormar {ormar.__version__}, {name} the integration: {counts}")
    differences = sorted(
        test
        for test in without.keys() | with_.keys()
        if without.get(test) != with_.get(test)
    )
    for test in differences:
        print(f"  {test}: {without.get(test)} without, {with_.get(test)} with")
    broken = [
        (name, test)
        for name, found in results.items()
        for test, outcome in found.items()
        if outcome in ("failure", "error")
    ]
    for name, test in broken:
        print(f"  {test}: failed {name} the integration")
    passed = Counter(without.values())["passed"]
    if differences or broken or not passed:
        print(
            f"{len(differences)} differences, {len(broken)} failures, {passed} passed"
        )
        return 1
    print(f"no differences: {passed} tests passed both ways")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
