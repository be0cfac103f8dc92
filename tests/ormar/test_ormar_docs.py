"""Every ```python block of the ormar-related docs pages runs, and its assertions hold.

The convention: **a page is one script.** Its blocks run in document order,
in one namespace and one event loop, so a block may use the models, the
database and the receivers of the blocks above it, just as a reader pasting
them one after the other into ``python -m asyncio`` would. A block that uses
``await`` at top level is compiled with ``PyCF_ALLOW_TOP_LEVEL_AWAIT`` and
awaited in the page's loop.

Each block is a test of its own, named after its line in the page. Running
one block (``-k line-123``) runs the blocks above it first; once a block has
failed, the blocks after it are skipped, naming it. A traceback names the
page and the line in it (``--tb=short`` keeps it to that line). While a block
runs, the working directory is a fresh temporary directory per page, so the
pages' ``sqlite+aiosqlite:///albums.db`` is a throw-away file.

The pages are written for the newest ormar API (``ormar.OrmarConfig`` and
``ormar.DatabaseConnection``, ormar 0.22 onward); on older lines every block
is skipped, saying so. A block that sets ``emit_parent_signals=True`` also
needs ormar 0.25; no later block may depend on it.

When a page ends (its last block has run, or a block failed), the receivers
it connected for every model are disconnected, so that neither the next page
nor other tests' models reach them; the integration is installed again; and
the databases and engines the page left open are closed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import ormar
import pytest

import ormar_integration

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    DOCS / "ormar.md",
    DOCS / "migration.md",
    DOCS / "quickstart.md",
    DOCS / "index.md",
]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)

NEWEST_API = hasattr(ormar, "OrmarConfig") and hasattr(ormar, "DatabaseConnection")
HAS_EMIT_PARENT_SIGNALS = NEWEST_API and (
    "emit_parent_signals" in inspect.signature(ormar.OrmarConfig).parameters
)
OLD_API_REASON = (
    f"the ormar pages are written for ormar 0.22+ (ormar.OrmarConfig and "
    f"ormar.DatabaseConnection); this is ormar {ormar.__version__}"
)

MODEL_SIGNALS = [
    getattr(ormar_integration, name)
    for name in (
        "pre_save",
        "post_save",
        "pre_update",
        "post_update",
        "pre_delete",
        "post_delete",
        "pre_relation_add",
        "post_relation_add",
        "pre_relation_remove",
        "post_relation_remove",
        "post_bulk_update",
        "pre_bulk_create",
        "post_bulk_create",
        "pre_queryset_update",
        "post_queryset_update",
        "pre_queryset_delete",
        "post_queryset_delete",
    )
]


class Block(NamedTuple):
    line: int  # of the block's first line of code, in the page
    source: str


def python_blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in BLOCK.finditer(text)
    ]


def skip_reason(block: Block) -> str | None:
    """Why this block cannot run on the installed ormar, or ``None``."""
    if "emit_parent_signals=True" in block.source and not HAS_EMIT_PARENT_SIGNALS:
        return f"emit_parent_signals exists from ormar 0.25 on; this is ormar {ormar.__version__}"
    return None


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    # contextlib.chdir exists from Python 3.11 on only.
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class PageRun:
    """One page run as a script: its namespace, event loop and directory."""

    def __init__(self, page: Path, directory: Path) -> None:
        self.page = page
        self.blocks = python_blocks(page)
        self.directory = directory
        self.namespace: dict[str, Any] = {"__name__": "docs_example"}
        self.loop = asyncio.new_event_loop()
        self.done = 0  # how many blocks, from the top, have run (or been skipped)
        self.failed_line: int | None = None
        self.every_model_receivers = {
            signal: signal.receivers_for(None) for signal in MODEL_SIGNALS
        }

    def run_through(self, index: int) -> None:
        """Runs the blocks not run yet, up to and including block ``index``."""
        while self.done <= index:
            block = self.blocks[self.done]
            if self.failed_line is not None:
                pytest.skip(
                    f"builds on the block at {self.page.name} line "
                    f"{self.failed_line}, which failed"
                )
            reason = skip_reason(block)
            if reason is None:
                try:
                    self.run(block)
                except BaseException:
                    self.failed_line = block.line
                    self.close()
                    raise
            self.done += 1
            if self.done == len(self.blocks):
                # Before the next page runs, so that it hears none of this one.
                self.close()
            if reason is not None and self.done > index:
                pytest.skip(reason)

    def run(self, block: Block) -> None:
        # Leading newlines make tracebacks name the block's lines in the page.
        code = compile(
            "\n" * (block.line - 1) + block.source,
            str(self.page),
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
        with working_directory(self.directory), warnings.catch_warnings():
            # An example that leaves a coroutine un-awaited is a wrong example.
            warnings.simplefilter("error", RuntimeWarning)
            if code.co_flags & inspect.CO_COROUTINE:
                self.loop.run_until_complete(eval(code, self.namespace))
            else:
                exec(code, self.namespace)

    def close(self) -> None:
        """Undoes what the page did outside its namespace; idempotent."""
        if self.loop.is_closed():
            return
        try:
            for signal, before in self.every_model_receivers.items():
                for each in self.added(signal, before):
                    signal.disconnect(each)
                assert not self.added(signal, before), (
                    f"{self.page.name} left a receiver for every model on "
                    f"{signal.name} that cannot be disconnected by the receiver"
                )
            ormar_integration.install()
            with working_directory(self.directory):
                self.loop.run_until_complete(self.close_databases())
        finally:
            self.loop.close()

    @staticmethod
    def added(signal: Any, before: list[Any]) -> list[Any]:
        """The every-model receivers of ``signal`` that were not in ``before``."""
        return [
            each
            for each in signal.receivers_for(None)
            if not any(each is kept for kept in before)
        ]

    async def close_databases(self) -> None:
        configs = [
            v for v in self.namespace.values() if isinstance(v, ormar.OrmarConfig)
        ]
        databases = {id(c.database): c.database for c in configs if c.database}
        engines = {id(c.engine): c.engine for c in configs if c.engine}
        for database in databases.values():
            await database.disconnect()
        for engine in engines.values():
            await engine.dispose()


@pytest.fixture(scope="module")
def page_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[Path], PageRun]]:
    runs: dict[Path, PageRun] = {}

    def run_of(page: Path) -> PageRun:
        if page not in runs:
            runs[page] = PageRun(page, tmp_path_factory.mktemp(page.stem))
        return runs[page]

    yield run_of
    for run in runs.values():
        run.close()


def test_the_pages_have_their_examples() -> None:
    # Guards against the extraction silently finding nothing.
    assert len(python_blocks(DOCS / "ormar.md")) >= 20
    assert len(python_blocks(DOCS / "migration.md")) >= 10


@pytest.mark.skipif(not NEWEST_API, reason=OLD_API_REASON)
@pytest.mark.parametrize(
    ("page", "index"),
    [(page, index) for page in PAGES for index in range(len(python_blocks(page)))],
    ids=[
        f"{page.name}:line-{block.line}"
        for page in PAGES
        for block in python_blocks(page)
    ],
)
def test_code_block_runs(
    page_run: Callable[[Path], PageRun], page: Path, index: int
) -> None:
    page_run(page).run_through(index)
