"""Prepared datasets are self-contained Hugging Face datasets with a card (recipes/hub.py)."""

import hashlib
import shutil

import numpy as np
import pytest
import yaml

from tfbench.data import open_prepared
from tfbench.errors import MediaError
from tfbench.recipes import RECIPES


def _header(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_card_records_recipe_options_hashes_counts_licence_and_citation(prepared_sample):
    card = (prepared_sample.root / "dataset" / "README.md").read_text()
    meta, recipe = prepared_sample.meta, RECIPES.get("sample")
    assert f"recipe `sample` version {recipe.version}" in card
    assert meta["fingerprint"] in card
    assert recipe.license in card and recipe.citation.strip() in card
    for split, count in meta["split_sizes"].items():
        assert f"| {split} | {count} |" in card
    for row in prepared_sample.split("train").select_columns(["source_video", "source_sha256"]):
        assert f"`{row['source_video']}`" in card and row["source_sha256"] in card
    assert '"test_speakers": "last speaker"' in card  # the recipe's options
    assert "0 clip(s) or video(s) could not be processed" in card
    header = _header(card)
    assert header["license"] == "apache-2.0"
    assert [entry["split"] for entry in header["configs"][0]["data_files"]] == ["train", "test"]
    assert prepared_sample.card() == card


@pytest.mark.parametrize("name", ["mead", "hdtf", "lrs2", "obamaset", "sample"])
def test_every_recipe_names_its_source_licence_and_citation(name):
    recipe = RECIPES.get(name)
    assert recipe.title and recipe.full_name and recipe.homepage.startswith("https://") and len(recipe.license) > 40
    assert recipe.citation.lstrip().startswith("@") and "title" in recipe.citation
    assert recipe.license_id in ("other", "apache-2.0")


def test_copied_dataset_folder_loads_and_decodes_with_plain_datasets(prepared_sample, tmp_path):
    import datasets
    import soundfile

    from tfbench.io.video import read_video

    copy = tmp_path / "elsewhere" / "sample"
    shutil.copytree(prepared_sample.root / "dataset", copy)  # the Arrow folder alone: no clips/, audio/
    data = datasets.load_from_disk(str(copy))
    assert isinstance(data["test"].features["video"], datasets.Video)
    assert isinstance(data["test"].features["audio"], datasets.Audio)
    row = data["test"][0]
    frames = row["video"].get_frames_in_range(0, row["num_frames"]).data.numpy()  # uint8 [T,3,H,W]
    assert frames.shape == (row["num_frames"], 3, 256, 256)
    ours = read_video(prepared_sample.root / "clips" / f"{row['clip_id']}.mp4").frames  # tfbench's decoder, original file
    assert np.abs(frames.transpose(0, 2, 3, 1).astype(np.int16) - ours).mean() < 1.0
    samples = row["audio"].get_all_samples()
    assert samples.sample_rate == 16000 and samples.data.shape == (1, row["audio_num_samples"])
    wav, _ = soundfile.read(str(prepared_sample.root / "audio" / f"{row['clip_id']}.wav"), dtype="float32")
    np.testing.assert_allclose(samples.data.numpy()[0], wav, atol=1e-6)
    assert (copy / "README.md").read_text() == prepared_sample.card()


def test_open_prepared_extracts_media_from_a_copy_without_clip_files(prepared_sample, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(prepared_sample.root / "dataset", copy / "dataset")
    shutil.copy(prepared_sample.root / "meta.json", copy / "meta.json")
    dataset = open_prepared(copy)
    row = dataset.split("train")[0]
    clip, wav = dataset.clip_path(row), dataset.audio_path(row)
    assert clip == copy / "clips" / f"{row['clip_id']}.mp4" and wav == copy / "audio" / f"{row['clip_id']}.wav"
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == row["clip_sha256"]
    assert wav.read_bytes() == (prepared_sample.root / "audio" / wav.name).read_bytes()
    corrupt = {**row, "clip_id": "other", "video": {"bytes": b"not this clip", "path": "other.mp4"}}
    with pytest.raises(MediaError, match="do not match its clip_sha256"):
        dataset.clip_path(corrupt)
    assert not (copy / "clips" / "other.mp4").exists()


class LocalHub:
    """A stand-in for ``huggingface_hub.HfApi``: repositories are folders under ``root``."""

    def __init__(self, root):
        self.root, self.created = root, []

    def create_repo(self, repo_id, repo_type, private, exist_ok):
        self.created.append((repo_id, repo_type, private))
        (self.root / repo_id).mkdir(parents=True, exist_ok=exist_ok)

    def upload_folder(self, repo_id, repo_type, folder_path, commit_message):
        shutil.copytree(folder_path, self.root / repo_id, dirs_exist_ok=True)
        return commit_message


def test_push_to_hub_uploads_a_repository_that_load_dataset_reads(prepared_sample, tmp_path):
    import datasets

    hub = LocalHub(tmp_path / "hub")
    message = prepared_sample.push_to_hub("someone/tfbench-sample", api=hub)
    assert hub.created == [("someone/tfbench-sample", "dataset", True)]  # private unless asked otherwise
    assert prepared_sample.fingerprint[:12] in message
    repo = tmp_path / "hub" / "someone" / "tfbench-sample"
    assert sorted(p.name for p in (repo / "data").iterdir()) == ["test-00000-of-00001.parquet", "train-00000-of-00001.parquet"]
    assert (repo / "README.md").read_text() == prepared_sample.card()
    data = datasets.load_dataset(str(repo), cache_dir=str(tmp_path / "hf-cache"))
    assert {split: len(data[split]) for split in data} == prepared_sample.meta["split_sizes"]
    assert sorted(data["test"]["clip_id"]) == sorted(prepared_sample.split("test")["clip_id"])
    row = data["train"][0]
    assert row["video"].metadata.num_frames == row["num_frames"]
    assert np.asarray(row["landmarks"]).shape == (row["num_frames"], 68, 2)
