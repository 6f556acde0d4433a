"""The leaderboard page in a real headless browser (Chromium): it renders, its tables and plots
are there, no two texts of a plot overlap, every point sits inside its plot, and a screenshot
shows a page rather than a blank.

tests/browser/layout_probe.js runs inside the page (a copy with the script appended; the
committed page has no scripts) and writes what it measured into <body data-report>.
Without Chromium the tests skip, unless RUNNER_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from runner.leaderboard import build
from runner.leaderboard.tables import check_entries, sections
from tests.test_leaderboard_pages import add, board, make_record  # noqa: F401 - board is a fixture

PROBE = Path(__file__).parent / "browser" / "layout_probe.js"
REPO_LEADERBOARD = Path(__file__).resolve().parents[1] / "leaderboard"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("RUNNER_REQUIRE_BROWSER") == "1":
        pytest.fail("no Chromium on PATH; install it (apt-get install chromium) to test the leaderboard page")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"  # its own profile: never touches a user's browser
    return subprocess.run([_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120)


def measure(page: str, tmp_path: Path) -> dict:
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", f"<script>{PROBE.read_text()}</script></body>"), encoding="utf-8")
    done = _run(["--dump-dom", probed.as_uri()], tmp_path)
    found = re.search(r'data-report="([^"]*)"', done.stdout)
    assert found, f"the page did not render: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_committed_page_renders_with_every_table_and_plot(tmp_path):
    entries = build.load_entries(REPO_LEADERBOARD)
    from runner.leaderboard.references import load_references

    secs = sections(entries, load_references(REPO_LEADERBOARD))
    page = (REPO_LEADERBOARD / "index.html").read_text(encoding="utf-8")
    report = measure(page, tmp_path)
    plots = sum(len({e.record.problem for e in s.entries}) for s in secs)
    tables = sum(bool(s.entries) + bool(s.references) for s in secs) + bool(check_entries(entries))
    assert report["svgs"] == plots and report["tables"] == tables
    assert report["overlaps"] == [] and report["outside"] == []

    shot = tmp_path / "page.png"
    _run([f"--screenshot={shot}", "--window-size=1280,2000", (REPO_LEADERBOARD / "index.html").as_uri()], tmp_path)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colors = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colors is None or len(colors) > 50  # text, tables and plots; a blank page has a handful


def test_crowded_plot_keeps_its_labels_apart(board, tmp_path):  # noqa: F811 - the fixture
    # Eight equal results a few seconds apart: their labels would stack on one line.
    for i in range(8):
        add(board, make_record(board, steps=2 + i, value=0.5, seconds=60.0 + i))
    report = measure(build.render(board)["index.html"], tmp_path)
    assert report["svgs"] == 1 and report["overlaps"] == [] and report["outside"] == []
