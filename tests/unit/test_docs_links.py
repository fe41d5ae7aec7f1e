"""Every reference in the repository resolves inside the repository.

- Each relative Markdown link in README.md and docs/*.md names a file that exists, and a
  ``file.md#anchor`` (or ``#anchor``) names a heading of that file, by GitHub's slug rule.
- Each mention of ``docs/<page>.md`` in a tracked text file names a page that exists; a mention
  followed by a quoted section (``docs/protocol-notes.md, "Type mapping"``) names one of its
  headings.
- No tracked text file cites the design notes kept outside the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Spelt in pieces so that this file does not mention them itself.
FOREIGN = ("PROTOCOL" + "_FACTS", "OCF_SECURITY" + "_FACTS", "ARCHITECTURE" + ".md",
           "shared" + "/design")

_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"`+[^`]*`+")
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_LINK_TEXT = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_DOC_MENTION = re.compile(r"(?<![\w/.-])(docs/[A-Za-z0-9_.-]+\.md)(?:,?\s+\"([^\"]{1,80})\")?")


def _prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed
    (letters, digits, ``_`` and ``-`` stay), each space a hyphen."""
    text = _INLINE_LINK_TEXT.sub(r"\1", heading)
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in "_- ")
    return text.replace(" ", "-")


def headings(page: Path) -> list[str]:
    """The heading texts of a Markdown page, in order."""
    found = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if match:
            found.append(match.group(1))
    return found


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub gives the headings of a page (repeats get ``-1``, ``-2``...)."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for heading in headings(page):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def links(page: Path) -> list[str]:
    """The link targets of a Markdown page, code blocks and code spans left out."""
    targets: list[str] = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        targets += _LINK.findall(_CODE_SPAN.sub("", line))
    return targets


def broken_links(page: Path) -> list[str]:
    problems = []
    for target in links(page):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.relative_to(ROOT)}: ({target})"
        if not dest.exists():
            problems.append(f"{where}: no file {dest.relative_to(ROOT)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no heading with anchor #{anchor}")
    return problems


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True, timeout=60).stdout.decode().split("\0")
    files = []
    for name in filter(None, names):
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree but not yet in the index
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def _section_names(page: Path) -> set[str]:
    return {re.sub(r"\s+", " ", heading.replace("`", "")) for heading in headings(page)}


def broken_mentions(path: Path, text: str) -> list[str]:
    problems = []
    for match in _DOC_MENTION.finditer(text):
        page = ROOT / match.group(1)
        line = text.count("\n", 0, match.start()) + 1
        where = f"{path.relative_to(ROOT)}:{line}: {match.group(1)}"
        if not page.is_file():
            problems.append(f"{where}: no such page")
            continue
        if match.group(2) is not None:
            # A quote may run over a line break and the next line's comment marker.
            section = re.sub(r"\s*\n[\s#*]*", " ", match.group(2)).strip()
            if section not in _section_names(page):
                problems.append(f'{where}: no section "{section}"')
    return problems


# --- the rules, checked on small texts so a broken checker cannot pass silently ----------


def test_slug_follows_github(tmp_path: Path) -> None:
    assert github_slug("About and /oic/d, /oic/p") == "about-and-oicd-oicp"
    assert github_slug("Options (`[ocf]`)") == "options-ocf"
    assert github_slug("Development dependencies (`pip install -e '.[dev]'`)") == (
        "development-dependencies-pip-install--e-dev")
    page = tmp_path / "p.md"
    page.write_text("# Top\n\n## Same\n\n```\n# not a heading\n```\n\n## Same\n")
    assert anchors(page) == {"top", "same", "same-1"}


def test_checker_finds_broken_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Real heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#real-heading) [web](https://example.org/x.md)\n"
        "[gone](missing.md) [bad anchor](other.md#nope) `[code](alsomissing.md)`\n"
        "```\n[fenced](fenced-missing.md)\n```\n"
    )
    problems = broken_links(page)
    assert len(problems) == 2, problems
    assert "missing.md" in problems[0] and "#nope" in problems[1]


def test_checker_finds_broken_mentions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# Notes\n\n## Budget per bridged device\n")
    source = tmp_path / "mod.py"
    d = "docs"  # not spelt out, or the repository check would find these made-up pages here
    text = (
        f'# see {d}/notes.md, "Budget per bridged\n#   device"; {d}/notes.md "Notes"\n'
        f'# {d}/gone.md and {d}/notes.md, "No such part"\n'
    )
    problems = broken_mentions(source, text)
    assert len(problems) == 2, problems
    assert f"{d}/gone.md: no such page" in problems[0]
    assert 'no section "No such part"' in problems[1]


# --- the repository ------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    problems = broken_links(page)
    assert not problems, "\n".join(problems)


def test_docs_mentions_resolve() -> None:
    problems: list[str] = []
    for path in tracked_text_files():
        problems += broken_mentions(path, path.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


def test_nothing_cites_files_outside_the_repository() -> None:
    files = tracked_text_files()
    assert ROOT / "bridge" / "naming.py" in files  # the listing really covers the sources
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(name in line for name in FOREIGN)
    ]
    assert not offenders, "\n".join(offenders)
