from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent

setup(
    name="ormar-signals",
    version="0.1.0",
    description="Async-first Django-style signals, with an ormar integration.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    license_files=["LICENSE"],
    author="ormar-signals contributors",
    python_requires=">=3.8",
    install_requires=["asgiref>=3.6"],
    extras_require={
        "ormar": ["ormar>=0.10"],
        "postgres": ["asyncpg"],
        "test": ["pytest", "hypothesis", "httpx", "fastapi"],
        "docs": ["mkdocs", "mkdocs-material", "mkdocstrings[python]"],
        "bench": ["django", "blinker", "matplotlib", "ormar", "aiosqlite"],
    },
    packages=["dispatch", "ormar_integration"],
    # Installing the package registers its pytest plugin: the captured_signals
    # fixture and the muted_signals marker (dispatch/pytest_plugin.py).
    entry_points={"pytest11": ["dispatch = dispatch.pytest_plugin"]},
    package_data={"dispatch": ["py.typed"], "ormar_integration": ["py.typed"]},
    zip_safe=False,
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Framework :: AsyncIO",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.8",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Typing :: Typed",
    ],
)
