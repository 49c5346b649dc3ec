"""`voicekit cdr` commands."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the `cdr` commands to the `voicekit` group."""
