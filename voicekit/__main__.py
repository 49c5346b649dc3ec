"""`python -m voicekit` runs the command line."""

from .cli import main

main(prog_name="voicekit")
