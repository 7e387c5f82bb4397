"""Leaderboards: paper data checked against the papers, refusal rules, determinism, and
the CI staleness check on the repository's real ``leaderboards/`` folder."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tfbench import leaderboard as lb
from tfbench.commands.leaderboard import register
from tfbench.errors import TfbenchError
from tfbench.results import MetricResult, ResultRecord

REPO_BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"
# The paper texts live in the steering repo's shared/ folder, checked out beside this repo in CI.
PAPERS_DIR = Path(os.environ.get("TFBENCH_PAPERS_DIR", REPO_BOARDS.parents[1] / "shared" / "papers"))
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cli(*args: str):
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test harness for the leaderboard command alone."""

    return CliRunner().invoke(app, ["leaderboard", *args])


def make_record(model: str, values: dict[str, tuple[float | None, bool]], **overrides) -> ResultRecord:
    """A clean, canonical record on MEAD unless ``overrides`` say otherwise."""
    weights_canonical = overrides.pop("weights_canonical", True)
    params = overrides.pop("params", {})
    metrics = {
        metric_id: MetricResult(
            id=metric_id,
            value=value,
            version="1",
            higher_is_better=higher,
            clips_scored=overrides.pop(f"scored_{metric_id}", 4),
            clips_failed=0,
            weights={"net": {"sha256": "ab" * 32, "canonical": weights_canonical}},
            params=params.get(metric_id, {}),
        )
        for metric_id, (value, higher) in values.items()
    }
    fields = dict(
        model=model,
        dataset="mead",
        split="test",
        protocol="self-reconstruction/v1",
        metrics=metrics,
        dataset_fingerprint="f" * 64,
        recipe_version="1",
        checkpoint_sha256="c" * 64,
        clips_total=4,
        git_commit=COMMIT,
        git_dirty=False,
        date="2026-11-01T10:00:00+00:00",
        hardware="x86_64",
        wall_time_s=1.0,
    )
    fields.update(overrides)
    return ResultRecord(**fields)


@pytest.fixture
def boards(tmp_path: Path) -> Path:
    """A leaderboards folder with the repository's paper data, no results, tables generated."""
    root = tmp_path / "leaderboards"
    shutil.copytree(REPO_BOARDS / "papers", root / "papers")
    (root / "results").mkdir()
    lb.write(root, lb.build(root))
    return root


def published_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.md"))}


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """Cells of the first markdown table after ``heading``."""
    rows = []
    for line in markdown.split(heading, 1)[1].splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
        elif rows:
            break
    assert rows, f"no table after {heading!r}"
    return [rows[0]] + rows[2:]  # header, then the rows after the |---| line


# ------------------------------------------------------------------------ paper data


def row_in_text(text: str, label: str, values: tuple[str | None, ...], values_after: int = 0) -> bool:
    """True when some line of ``text`` holds ``label`` followed, in order, by each value as
    a whole number (not part of a longer number), after skipping ``values_after`` numbers."""
    number = r"(?<![\d.]){}(?!\d)"
    for line in text.splitlines():
        start = line.find(label)
        if start < 0:
            continue
        position = start + len(label)
        for _ in range(values_after):
            match = re.compile(number.format(r"\d+(?:\.\d+)?")).search(line, position)
            if match is None:
                break
            position = match.end()
        else:
            for value in values:
                if value is None:
                    continue
                match = re.compile(number.format(re.escape(value))).search(line, position)
                if match is None:
                    break
                position = match.end()
            else:
                return True
    return False


PAPERS = lb.load_papers(REPO_BOARDS)
PAPER_TABLES = [(paper, table) for paper in PAPERS for table in paper.tables]
needs_paper_texts = pytest.mark.skipif(
    not PAPERS_DIR.is_dir(), reason=f"paper texts not found at {PAPERS_DIR}; set TFBENCH_PAPERS_DIR"
)


def test_paper_files_parse_with_citations_and_cover_the_papers():
    keys = {paper.key for paper in PAPERS}
    assert keys == {"cpnet", "talkclip", "emospace", "g4g", "stylegan-editing"}
    for paper in PAPERS:
        assert paper.citation and paper.title in paper.citation.replace("\n", " "), paper.path
        assert paper.tables or paper.omitted, paper.path
    datasets = {(paper.key, table.dataset) for paper, table in PAPER_TABLES}
    assert datasets == {
        ("cpnet", "obamaset"),
        ("talkclip", "mead"),
        ("talkclip", "hdtf"),
        ("emospace", "mead"),
        ("g4g", "hdtf"),
        ("g4g", "lrs2"),
    }
    # TalkCLIP Table 1 includes its baselines and the ground-truth row, on both datasets.
    for paper, table in PAPER_TABLES:
        if paper.key == "talkclip":
            assert [row.method for row in table.rows][-2:] == ["Ground truth", "TalkCLIP"]
            assert len(table.rows) == 9


@needs_paper_texts
@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.key)
def test_paper_title_is_in_the_paper_text(paper):
    text = " ".join((PAPERS_DIR / paper.text_file).read_text().split())
    assert paper.title in text


@needs_paper_texts
@pytest.mark.parametrize("paper,table", PAPER_TABLES, ids=lambda x: getattr(x, "key", None) or getattr(x, "table", ""))
def test_every_paper_number_is_printed_in_the_paper(paper, table):
    text = (PAPERS_DIR / paper.text_file).read_text()
    for row in table.rows:
        assert row_in_text(text, row.paper_label, row.values, table.values_after), (
            f"{paper.path} {table.table}: row {row.paper_label!r} {row.values} is not printed in {paper.text_file}"
        )


def test_paper_number_check_catches_typos_and_shifted_columns():
    line = "Ours 27.556027.5560\\mathbf{27.5560}bold_27.5560 0.90830.9083\\mathbf{0.9083}bold_0.9083"
    assert row_in_text(line, "Ours", ("27.5560", "0.9083"))
    assert not row_in_text(line, "Ours", ("27.5560", "0.908"))  # truncated number
    assert not row_in_text(line, "Ours", ("0.9083", "27.5560"))  # columns swapped
    talkclip = "Ours 0.829 0.164 2.415 3.601 3.773 0.783 0.252 2.542 2.844 4.689"
    assert row_in_text(talkclip, "Ours", ("0.783", "0.252", "2.542", "2.844", "4.689"), values_after=5)
    assert not row_in_text(talkclip, "Ours", ("0.829", "0.164", "2.415", "3.601", "3.773"), values_after=5)


def test_paper_values_must_be_quoted_as_printed(tmp_path):
    papers = tmp_path / "papers"
    papers.mkdir()
    source = (REPO_BOARDS / "papers" / "cpnet.yaml").read_text()
    (papers / "cpnet.yaml").write_text(source.replace('"0.060"', "0.060"))
    with pytest.raises(TfbenchError, match=r"cpnet.yaml.*quoted string"):
        lb.load_papers(tmp_path)
    (papers / "cpnet.yaml").write_text(source.replace('"0.060", ', ""))
    with pytest.raises(TfbenchError, match=r"4 values for 5 columns"):
        lb.load_papers(tmp_path)


# ------------------------------------------------------------------- staleness (CI)


def test_repository_leaderboards_are_up_to_date():
    problems = lb.check(REPO_BOARDS, lb.build(REPO_BOARDS))
    assert problems == [], "\n".join(problems)


def test_hand_edited_table_fails_the_check_and_regenerating_fixes_it(boards):
    assert cli("--dir", str(boards), "--check").exit_code == 0
    mead = boards / "mead.md"
    mead.write_text(mead.read_text().replace("| 0.813 | 0.164 |", "| 0.913 | 0.164 |", 1))
    result = cli("--dir", str(boards), "--check")
    assert result.exit_code == 1
    assert "leaderboards/mead.md is stale" in result.stderr
    assert "committed:   | Wav2Lip | 0.913" in result.stderr
    assert "regenerated: | Wav2Lip | 0.813" in result.stderr
    assert cli("--dir", str(boards)).exit_code == 0
    assert cli("--dir", str(boards), "--check").exit_code == 0


def test_check_reports_missing_and_orphaned_files(boards):
    (boards / "lrs2.md").unlink()
    (boards / "vox.md").write_text(lb.GENERATED_MARKER + "\n# old\n")
    (boards / "README.md").write_text("# hand-written, not generated\n")
    problems = lb.check(boards, lb.build(boards))
    assert any("lrs2.md is missing" in p for p in problems)
    assert any("vox.md is no longer generated" in p for p in problems)
    assert not any("README.md" in p for p in problems)
    lb.write(boards, lb.build(boards))
    assert not (boards / "vox.md").exists() and (boards / "README.md").exists()
    assert lb.check(boards, lb.build(boards)) == []


def test_new_result_makes_committed_table_stale_naming_the_row(boards):
    lb.save_result(make_record("g4g", {"psnr": (30.0, True)}), boards)
    result = cli("--dir", str(boards), "--check")
    assert result.exit_code == 1
    assert "leaderboards/mead.md is stale" in result.stderr and "| g4g |" in result.stderr


# --------------------------------------------------------------------- measured rows


def test_measured_table_columns_bold_order_and_provenance(boards):
    lb.save_result(make_record("Zeta", {"psnr": (31.0, True), "lse_d": (7.5, False)}), boards)
    lb.save_result(make_record("alpha", {"psnr": (29.0, True), "lse_d": (6.5, False), "lse_c": (7.0, True)}, scored_lse_c=3), boards)
    lb.save_result(make_record("Beta", {"psnr": (31.00001, True), "lse_d": (None, False)}, git_commit="f" * 40), boards)
    boards_out = lb.build(boards)
    text = boards_out.published["mead.md"]
    rows = table_rows(text, "### Protocol `self-reconstruction/v1`, split `test`")
    header = rows[0]
    assert header[:5] == ["Method", "lse_c ↑", "lse_d ↓", "psnr ↑", "Clips ok/total"]
    assert header[5:] == ["Checkpoint", "Dataset fingerprint", "Weights canonical", "Protocol", "tfbench", "Date", "Commit", "Source"]
    assert [row[0] for row in rows[1:]] == ["alpha", "Beta", "Zeta"]  # case-insensitive name order
    alpha, beta, zeta = rows[1:]
    assert alpha[1] == "7.0000 (3/4 clips)"  # a lone value is not bolded; partial coverage is shown
    assert alpha[2] == "**6.5000**" and zeta[2] == "7.5000" and beta[2] == "—"  # lower is better
    assert beta[3] == "**31.0000**" and zeta[3] == "**31.0000**" and alpha[3] == "29.0000"  # ties as displayed
    assert zeta[4] == "4/4"
    assert zeta[5:] == ["cccccccccccc", "ffffffffffff", "yes", "`self-reconstruction/v1`", "0.1.0", "2026-11-01", COMMIT[:10],
                        f"[measured by tfbench](results/{lb.result_file_name(make_record('Zeta', {}))})"]
    assert "No canonical tfbench-measured result" not in text
    assert "Metric versions and parameters: `lse_c` v1; `lse_d` v1; `psnr` v1." in text
    # Measured rows come before, and apart from, the paper rows.
    assert text.index("| Zeta |") < text.index("## Reported in papers (not comparable cell for cell)")


def test_metric_variants_get_separate_columns_and_are_not_compared(boards):
    lb.save_result(make_record("a", {"lse_c": (7.0, True)}, params={"lse_c": {"min_track_frames": 0}}), boards)
    lb.save_result(make_record("b", {"lse_c": (8.0, True)}, params={"lse_c": {"min_track_frames": 100}}), boards)
    text = lb.build(boards).published["mead.md"]
    header, a, b = table_rows(text, "### Protocol")
    assert header[1:3] == ["lse_c ⟨v1; min_track_frames=0⟩ ↑", "lse_c ⟨v1; min_track_frames=100⟩ ↑"]
    assert a[1:3] == ["7.0000", ""] and b[1:3] == ["", "8.0000"]


def test_protocols_and_splits_get_separate_tables_and_new_datasets_get_files(boards):
    lb.save_result(make_record("a", {"psnr": (30.0, True)}), boards)
    lb.save_result(make_record("a", {"psnr": (20.0, True)}, protocol="cross-driven/v1"), boards)
    lb.save_result(make_record("a", {"psnr": (25.0, True)}, dataset="vox", date="2026-11-02T00:00:00+00:00"), boards)
    out = lb.build(boards)
    text = out.published["mead.md"]
    assert text.index("### Protocol `cross-driven/v1`, split `test`") < text.index("### Protocol `self-reconstruction/v1`")
    assert "| a | 30.0000 |" in text and "| a | 20.0000 |" in text
    assert "| a | 25.0000 |" in out.published["vox.md"]
    assert "No paper-reported numbers are recorded for vox." in out.published["vox.md"]


def test_regeneration_is_byte_identical(boards):
    lb.save_result(make_record("a", {"psnr": (30.0, True), "mse": (0.0017, False)}), boards)
    assert cli("--dir", str(boards)).exit_code == 0
    first = published_bytes(boards)
    assert "1.700e-03" in first["mead.md"].decode()  # small values keep their digits
    assert cli("--dir", str(boards)).exit_code == 0
    assert published_bytes(boards) == first
    assert lb.write(boards, lb.build(boards)) == []  # nothing to change


# -------------------------------------------------------------------------- refusals


REFUSED = {
    "sample dataset": (dict(dataset="sample"), "made on the 'sample' dataset"),
    "random weights": (dict(weights_canonical=False), "non-canonical weights: psnr (net)"),
    "demo checkpoint": (dict(model_canonical=False, model_notes="demo checkpoint"), "model checkpoint is not canonical: demo checkpoint"),
    "dirty tree": (dict(git_dirty=True), "dirty git tree"),
    "no commit": (dict(git_commit=None, git_dirty=None), "no git commit recorded"),
    "unknown tree state": (dict(git_dirty=None), "git working-tree state unknown"),
    "no fingerprint": (dict(dataset_fingerprint=None), "no dataset fingerprint"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_result_goes_to_local_table_and_published_files_do_not_change(boards, case):
    overrides, reason = REFUSED[case]
    before = published_bytes(boards)
    path = lb.save_result(make_record("smoke-model", {"psnr": (99.0, True)}, **overrides), boards)
    result = cli("--dir", str(boards))
    assert result.exit_code == 0
    assert published_bytes(boards) == before
    assert f"not published: results/{path.name}" in result.stderr and reason in result.stderr
    dataset = overrides.get("dataset", "mead")
    local = (boards / "local" / f"{dataset}.md").read_text()
    assert "NOT PUBLISHED" in local and "| smoke-model |" in local and reason in local
    assert "**" not in local  # smoke results are never ranked
    assert cli("--dir", str(boards), "--check").exit_code == 0
    strict = cli("--dir", str(boards), "--check", "--strict")
    assert strict.exit_code == 1 and "may not be published" in strict.stderr


def test_local_tables_are_git_ignored():
    assert "local/" in (REPO_BOARDS / ".gitignore").read_text().split()


def test_stale_local_table_is_removed(boards):
    path = lb.save_result(make_record("smoke", {"psnr": (1.0, True)}, dataset="sample"), boards)
    assert lb.write(boards, lb.build(boards)) == ["local/sample.md"]
    assert (boards / "local" / "sample.md").exists()
    path.unlink()
    assert lb.write(boards, lb.build(boards)) == ["local/sample.md"]
    assert not (boards / "local" / "sample.md").exists()


# ------------------------------------------------------------------- bad result files


def test_invalid_result_file_is_named_in_the_error(boards):
    (boards / "results" / "broken.json").write_text(json.dumps({"model": "x"}))
    with pytest.raises(TfbenchError, match=r"results/broken.json: not a valid result record"):
        lb.build(boards)
    (boards / "results" / "broken.json").write_text("{not json")
    with pytest.raises(TfbenchError, match=r"results/broken.json"):
        lb.build(boards)


def test_duplicate_result_files_are_rejected(boards):
    path = lb.save_result(make_record("a", {"psnr": (30.0, True)}), boards)
    shutil.copy(path, boards / "results" / "copy.json")
    with pytest.raises(TfbenchError, match=r"same record"):
        lb.build(boards)


def test_non_finite_or_missing_values_are_refused():
    reasons = lb.refusal_reasons(make_record("a", {"fid": (float("nan"), False)}))
    assert reasons == ["non-finite values: fid"]
    assert lb.refusal_reasons(make_record("a", {"fid": (None, False)})) == ["no metric values"]
    assert lb.refusal_reasons(make_record("a", {"fid": (12.0, False)})) == []


def test_canonical_flag_is_recomputed_not_trusted(boards):
    path = lb.save_result(make_record("a", {"psnr": (30.0, True)}, weights_canonical=False), boards)
    data = json.loads(path.read_text())
    data["canonical"] = True  # a hand-edited claim
    path.write_text(json.dumps(data))
    [result] = lb.load_results(boards)
    assert not result.published and "non-canonical weights: psnr (net)" in result.refusals


def test_saved_result_round_trips_and_names_are_stable(tmp_path):
    record = make_record("my model/v2", {"psnr": (30.0, True)})
    path = lb.save_result(record, tmp_path)
    assert path.name == "mead__test__self-reconstruction-v1__my-model-v2__20261101T100000__01234567.json"
    [loaded] = lb.load_results(tmp_path)
    assert loaded.published and loaded.record.metrics["psnr"].value == 30.0
    assert lb.save_result(record, tmp_path) == path  # same record: idempotent
    with pytest.raises(TfbenchError, match="already holds another result"):
        lb.save_result(make_record("my model/v2", {"psnr": (31.0, True)}), tmp_path)
