"""Transfers: downloads that write only complete, verified files inside the destination."""

from .download import DownloadResult, download, safe_target
from .engine import Options
from .plan import POLICIES, Failure, Policy
from .progress import Progress

__all__ = [
    "POLICIES",
    "DownloadResult",
    "Failure",
    "Options",
    "Policy",
    "Progress",
    "download",
    "safe_target",
]
