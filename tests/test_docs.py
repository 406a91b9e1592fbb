"""The documentation site builds with warnings as errors, and its API pages are complete."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_docs_build_strict_with_filled_api_pages(tmp_path):
    pytest.importorskip("mkdocs", reason="pip install mkdocs-material 'mkdocstrings[python]'")
    pytest.importorskip("mkdocstrings", reason="pip install 'mkdocstrings[python]'")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            "NO_MKDOCS_2_WARNING": "1",
            "PATH": str(Path(sys.executable).parent),
            "HOME": str(tmp_path),
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = (site / "api" / "report" / "index.html").read_text()
    assert "write_study_report" in report and "write_listening_view" in report
    pipelines = (site / "api" / "pipelines" / "index.html").read_text()
    assert "Show progress bars on stderr" in pipelines and "%(progress_bar)s" not in pipelines
    index = (site / "index.html").read_text()
    assert "Statistics note" in index  # the README is the home page
    for page in ("tutorials/chills", "tutorials/encoding", "study-layout", "gallery"):
        assert (site / page / "index.html").is_file(), page
    assert (site / "images" / "listening-view.png").is_file()
    shutil.rmtree(site)


def test_readme_links_stay_inside_the_repository():
    import re

    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)", text):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).resolve().is_relative_to(ROOT), target
            assert (ROOT / target).exists(), target
