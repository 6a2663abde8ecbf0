"""The web package's public surface is what we mean it to be, and its assets ship inside
the package (the UI must work offline: no CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import supplyledger.api as api


def test_exports() -> None:
    assert sorted(api.__all__) == ["ApiSettings", "LedgerService", "Principal", "create_app"]
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_assets_are_packaged_and_local() -> None:
    root = Path(api.__file__).parent
    assert (root / "static" / "htmx.min.js").stat().st_size > 40_000
    for tpl in (root / "templates").glob("*.html"):
        text = tpl.read_text()
        for url in re.findall(r'(?:src|href)="(https?://[^"]+)"', text):
            raise AssertionError(f"{tpl.name} loads {url} from the network")
