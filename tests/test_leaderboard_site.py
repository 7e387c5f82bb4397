"""``tfbench leaderboard --html DIR``: the leaderboards as a static site — same rows and
rules as the markdown, measured and paper rows apart, a page per measured row, staleness
check for CI — and the site in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

import _browser
from test_leaderboard import REPO_BOARDS, make_record
from tfbench import leaderboard as lb
from tfbench.cli import app
from tfbench.leaderboard.site import HTML_MARKER, build_site, check_site, write_site

ARTIFACTS = Path(os.environ.get("TFBENCH_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
REPO_SITE = REPO_BOARDS / "site"


def _boards(tmp_path: Path) -> Path:
    root = tmp_path / "leaderboards"
    root.mkdir()
    shutil.copytree(REPO_BOARDS / "papers", root / "papers")
    (root / "results").mkdir()
    lb.save_result(make_record("Zeta", {"psnr": (31.0, True), "lse_d": (7.5, False)}), root)
    lb.save_result(make_record("alpha", {"psnr": (29.0, True), "lse_d": (6.5, False), "lse_c": (7.0, True)}, scored_lse_c=3), root)
    lb.save_result(make_record("smoke", {"psnr": (1.0, True)}, dataset="sample"), root)
    return root


def test_repository_site_is_up_to_date():
    assert check_site(REPO_BOARDS, REPO_SITE) == []


def test_site_keeps_measured_and_paper_rows_apart_and_links_each_row(tmp_path):
    root = _boards(tmp_path)
    pages, local = build_site(root, root / "site")
    mead = pages["mead.html"]
    measured, papers = mead.split('<section id="papers">')
    assert "Zeta" in measured and "alpha" in measured and "reported in" not in measured
    assert "reported in" in papers and "Zeta" not in papers
    assert measured.index(">alpha<") < measured.index(">Zeta<")  # markdown's row order (case-insensitive name)
    assert "<b>31.0000</b>" in measured and "<b>6.5000</b>" in measured  # best per column, as in the markdown
    assert "(3/4 clips)" in measured
    for link in re.findall(r'href="(results/[^"]+\.html)"', measured):
        assert link in pages and "Provenance" in pages[link]
    assert len(set(re.findall(r'href="(results/[^"]+\.html)"', measured))) == 2
    json_links = re.findall(r'href="([^"]+\.json)"', measured)
    assert json_links and all((root / "site" / link).resolve().is_file() for link in json_links)
    # a refused result never reaches a published page, only local/, with its reasons
    assert all("smoke" not in text for text in pages.values())
    assert "local/sample.html" in local and "bundled sample" in local["local/sample.html"]
    assert "smoke test, not a benchmark" in local["local/sample.html"]


def test_cli_writes_then_checks_the_site_and_names_stale_pages(tmp_path):
    root = _boards(tmp_path)
    site = tmp_path / "site"
    runner = CliRunner()
    result = runner.invoke(app, ["leaderboard", "--dir", str(root), "--html", str(site)])
    assert result.exit_code == 0, result.output
    assert (site / "index.html").read_text().startswith("<!DOCTYPE html>\n" + HTML_MARKER)
    assert runner.invoke(app, ["leaderboard", "--dir", str(root), "--html", str(site), "--check"]).exit_code == 0
    assert write_site(root, site) == []  # regenerating changes nothing
    lb.save_result(make_record("newcomer", {"psnr": (30.0, True)}), root)
    stale = runner.invoke(app, ["leaderboard", "--dir", str(root), "--html", str(site), "--check"])
    assert stale.exit_code == 1 and "mead.html is stale" in stale.output
    (site / "old.html").write_text("<!DOCTYPE html>\n" + HTML_MARKER + "\n")
    assert any("old.html is no longer generated" in p for p in check_site(root, site))
    assert "old.html" in write_site(root, site) and not (site / "old.html").exists()


def test_site_in_chromium(tmp_path):
    from selenium.webdriver.common.by import By

    assert _browser.available() is None, _browser.available()
    root = _boards(tmp_path)
    site = root / "site"
    write_site(root, site)
    with _browser.chromium() as driver:
        for page in ("index.html", "mead.html", "local/sample.html"):
            assert _browser.open_page(driver, site / page) == [], page
            assert _browser.broken_media(driver) == []
        _browser.open_page(driver, site / "mead.html")
        table = driver.find_element(By.CSS_SELECTOR, "#measured table.sortable")
        header = next(h for h in table.find_elements(By.CSS_SELECTOR, "thead th") if h.text.startswith("psnr"))
        index = [h.text for h in table.find_elements(By.CSS_SELECTOR, "thead th")].index(header.text)

        def methods():
            return [row.find_elements(By.TAG_NAME, "td")[0].text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

        assert methods() == ["alpha", "Zeta"]
        header.click()  # ascending psnr: alpha (29) first
        assert methods() == ["alpha", "Zeta"]
        header.click()
        assert methods() == ["Zeta", "alpha"]
        assert [r.find_elements(By.TAG_NAME, "td")[index].text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")][0] == "31.0000"
        _browser.screenshot(driver, ARTIFACTS / "leaderboard_site.png")
        driver.find_element(By.LINK_TEXT, "Zeta").click()
        assert "Provenance" in driver.page_source and [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
