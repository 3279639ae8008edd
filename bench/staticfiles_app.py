"""Scenario 6's baseline: Starlette's plain `StaticFiles` on the same files as ours.

Served by uvicorn with the content service's flags (see bench/processes.py):
`STATICFILES_ROOT=DIR uvicorn bench.staticfiles_app:app --loop uvloop --http httptools ...`
"""

from __future__ import annotations

import os

from starlette.staticfiles import StaticFiles

app = StaticFiles(directory=os.environ["STATICFILES_ROOT"])
