"""Previews: pure functions of a random-access reader and a budget, returning the `Preview`
of docs/protocol.md (`preview.preview_file`, `preview.preview_node`). The format comes from
magic bytes, never from the file name alone; one module per format (see `formats.py`).

Nothing is imported here: the server imports `budget` at start and the format readers only
where previews run (the worker processes), so they stay off the startup path."""
