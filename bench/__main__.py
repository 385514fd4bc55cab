"""Run every benchmark: `python -m bench`."""

from . import startup

startup.main()
