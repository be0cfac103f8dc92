"""``dispatch`` needs the standard library and asgiref, nothing else (contract §1).

Read from the sources rather than from ``sys.modules`` after an import: an
import guarded by ``try``/``except ImportError``, or one inside a function,
would not show in a dispatch test environment, where ormar is not installed.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISPATCH = ROOT / "dispatch"
ORM_PACKAGES = {"ormar", "pydantic", "sqlalchemy", "databases"}


def imported_packages(source: Path) -> set[str]:
    """The top-level package of every absolute import anywhere in ``source``."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module is not None
            found.add(node.module.split(".")[0])
    return found


def dispatch_imports() -> dict[str, set[str]]:
    modules = sorted(DISPATCH.glob("*.py"))
    assert {path.name for path in modules} >= {"__init__.py", "signal.py"}
    return {path.name: imported_packages(path) for path in modules}


def test_dispatch_imports_no_orm_package() -> None:
    for module, packages in dispatch_imports().items():
        lowered = {package.lower() for package in packages}
        assert not lowered & ORM_PACKAGES, module


@pytest.mark.skipif(
    sys.version_info < (3, 10), reason="sys.stdlib_module_names is new in 3.10"
)
def test_dispatch_imports_only_the_standard_library_and_asgiref() -> None:
    allowed = set(sys.stdlib_module_names) | {"asgiref"}
    for module, packages in dispatch_imports().items():
        if module == PYTEST_PLUGIN:
            packages = packages - {"pytest"}
        assert packages <= allowed, (module, packages - allowed)


# The pytest plugin (registered through the ``pytest11`` entry point) is the
# one module that imports pytest: pytest loads it, so pytest is there. No
# other module may import it, ``dispatch/__init__`` included, or importing
# dispatch outside tests would need pytest.
PYTEST_PLUGIN = "pytest_plugin.py"


def test_only_the_pytest_plugin_imports_pytest() -> None:
    importing = {
        module
        for module, packages in dispatch_imports().items()
        if "pytest" in packages
    }
    assert importing == {PYTEST_PLUGIN}


def test_importing_dispatch_and_its_testing_helpers_loads_no_pytest() -> None:
    code = (
        "import sys, dispatch, dispatch.testing; "
        "assert 'pytest' not in sys.modules and '_pytest' not in sys.modules, "
        "sorted(m for m in sys.modules if 'pytest' in m)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr


def test_the_only_install_requirement_is_asgiref() -> None:
    setup_call = next(
        node
        for node in ast.walk(ast.parse((ROOT / "setup.py").read_text("utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    )
    requires = next(
        keyword.value
        for keyword in setup_call.keywords
        if keyword.arg == "install_requires"
    )
    names = [requirement.split(">")[0] for requirement in ast.literal_eval(requires)]
    assert names == ["asgiref"]
