"""The command line (typer): parse options, call the library, render, exit."""
from __future__ import annotations

from shapecli.cli.app import app, main, run  # noqa: F401
