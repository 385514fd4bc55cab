"""Pickle files: read at the opcode level, never loaded."""

from __future__ import annotations

from .budget import BudgetedReader
from .markdown import code_span, escape
from .pickles import PickleScan, scan_pickle
from .section import Section, read_up_to_budget


def preview_pickle(reader: BudgetedReader, kind: str) -> Section:
    data, truncated = read_up_to_budget(reader)
    scan = scan_pickle(data)
    return pickle_section("pickle", f"Pickle (protocol {scan.protocol})", scan, truncated)


def pickle_section(kind: str, title: str, scan: PickleScan, truncated: bool) -> Section:
    imported = list(dict.fromkeys(scan.globals))
    lines = [
        f"**imports** {', '.join(code_span(g) for g in imported[:12])}"
        if imported
        else "imports nothing"
    ]
    if scan.error:
        lines.append(f"stopped at a malformed opcode: {escape(scan.error)}")
    return Section(
        kind,
        title,
        lines,
        verdict=scan.verdict,
        findings=scan.findings(),
        truncated=truncated or not scan.complete,
        fields={"protocol": scan.protocol, "globals": imported},
    )
