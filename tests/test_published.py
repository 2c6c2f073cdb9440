"""Published numbers never drift from their rows: the generated tables of the README and of the docs
pages (`make_figures.SHOWN_ON`) equal what `make figures` computes from results/ alone, and `make
figures` runs in a clone with an empty HOME; the README's prose on compute quotes only numbers those
tables hold."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from analysis import make_figures

ROOT = Path(__file__).resolve().parent.parent


def test_every_generated_table_in_the_readme_and_docs_equals_what_the_rows_give():
    problems = make_figures.stale(ROOT / "results", ROOT / "docs" / "results", ROOT)
    assert problems == [], "\n".join(problems) + "\nrun `make figures` and commit what it writes"


def test_every_published_study_has_its_block_on_each_of_its_pages():
    for study, name, *_ in make_figures.PUBLISHED:
        if (ROOT / "results" / study / "rows").is_dir():
            assert make_figures.SHOWN_ON.get(name), f"results/{study}: SHOWN_ON names no page for {name}"
            for page in make_figures.SHOWN_ON[name]:
                text = (ROOT / page).read_text()
                assert f"<!-- generated: docs/results/{name} -->" in text, f"results/{study} is missing from {page}"


def test_the_readme_shows_the_demo_and_table_1():
    assert {"demo.md", "table1.md"} <= {n for n, pages in make_figures.SHOWN_ON.items() if "README.md" in pages}


def test_the_readmes_compute_paragraph_quotes_numbers_of_the_generated_tables():
    """Each cost multiple (2,205x) and count (126) that the README's compute paragraph states is in
    some table of docs/results, which the rows regenerate. (Not its success rates: two-digit rates
    recur across the tables, so finding one would prove little.)"""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("**Compute: GC-TTT or a bigger model?**")
    paragraph = readme[start : readme.index("![", start)]
    tables = "\n".join(p.read_text() for p in sorted((ROOT / "docs" / "results").glob("*.md")))
    quoted = re.findall(r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?x|\d{3,}|\d{1,3}(?:,\d{3})+)(?![\w])", paragraph)
    assert len(quoted) >= 10, quoted
    missing = [q for q in quoted if q not in tables]
    assert missing == [], f"the README quotes {missing}, which no table in docs/results holds"


def test_a_changed_number_in_a_block_is_caught(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- generated: docs/results/t.md -->\n| a | 0.50 |\n<!-- end generated -->\nend\n")
    assert make_figures.fill_blocks(readme.read_text(), {"t.md": "| a | 0.50 |\n"}) == readme.read_text()
    filled = make_figures.fill_blocks(readme.read_text(), {"t.md": "| a | 0.70 |\n"})
    assert "| a | 0.70 |" in filled and "0.50" not in filled and filled.endswith("end\n")


def test_make_figures_in_a_fresh_clone_with_an_empty_home(tmp_path):
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    clone = tmp_path / "clone"
    for name in files:
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "MPLBACKEND": "Agg", "PYTHONPATH": str(clone)}
    env.pop("GCTTT_RESULTS_DIR", None)
    run = subprocess.run(
        [sys.executable, "analysis/make_figures.py"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for page in make_figures.PAGES:  # nothing was stale
        assert (clone / page).read_text() == (ROOT / page).read_text(), page
    for study, name, *_ in make_figures.PUBLISHED:
        if (clone / "results" / study / "rows").is_dir():
            assert (clone / "docs" / "results" / name).read_text() == (ROOT / "docs" / "results" / name).read_text()
    assert list(home.iterdir()) == [] or all(p.name.startswith(".") for p in home.iterdir())


def test_every_page_with_a_generated_block_is_filled_by_make_figures():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    with_blocks = {str(p.relative_to(ROOT)) for p in pages if make_figures.MARKER.search(p.read_text())}
    assert with_blocks == set(make_figures.PAGES), "add the page to make_figures.SHOWN_ON, or remove its block"
