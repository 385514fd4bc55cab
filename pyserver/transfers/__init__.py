"""Transfers: downloads that write only complete, verified files inside the destination."""

from .download import DownloadResult, Progress, download, safe_target

__all__ = ["DownloadResult", "Progress", "download", "safe_target"]
