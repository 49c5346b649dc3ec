"""`voicekit dial` commands."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the `dial` commands to the `voicekit` group."""
