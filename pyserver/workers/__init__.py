"""Previews in a warm pool of worker processes, so a preview that crashes, hangs or runs out
of memory fails its own request and never the server (docs/security.md)."""
