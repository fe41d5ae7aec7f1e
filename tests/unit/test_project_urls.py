"""The documentation address the gateway hands out is the one the distribution declares."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from bridge import DOCUMENTATION_URL

ROOT = Path(__file__).resolve().parents[2]


def test_documentation_url_is_the_project_url() -> None:
    # Home Assistant shows it as the origin's support_url; pyproject.toml puts it on the
    # package index page. One address, written twice, kept equal here.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Documentation"] == DOCUMENTATION_URL
    parts = urlsplit(DOCUMENTATION_URL)
    assert parts.scheme == "https" and parts.netloc
