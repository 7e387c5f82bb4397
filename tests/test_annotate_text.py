"""TA-MEAD-style text: AU levels from the threshold table, emotion words, seeded variants."""

import pytest

from tfbench.annotate.text import au_levels, au_phrases, describe, load_au_table, load_emotion_table


def test_tables_cover_every_mead_group_and_au():
    table = load_emotion_table()
    emotions = ("angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised")
    assert all((emotion, level) in table for emotion in emotions for level in (1, 2, 3))
    assert ("neutral", 1) in table and len(table) == 22
    assert [row.au for row in load_au_table()] == ["AU1", "AU2", "AU4", "AU5", "AU6", "AU12", "AU15", "AU20", "AU25", "AU26"]


def test_three_levels_from_thresholds():
    levels = au_levels({"AU12": 0.2, "AU25": 0.8, "AU26": 1.6, "AU1": 3.0})
    assert levels["AU12"] == 0 and levels["AU25"] == 1 and levels["AU26"] == 2 and levels["AU1"] == 3
    assert au_phrases(levels) == ["inner brows extremely raised", "lips slightly parted", "jaw dropped"]


def test_full_sentence_first_then_seeded_variants():
    means = {"AU12": 2.7, "AU25": 1.0}
    sentences = describe("M003_front_happy_level_3_001", "happy", 3, means, gender="male", variants=6)
    assert len(sentences) == 6
    assert sentences[0] == "A man looks delighted and speaks with lip corners extremely pulled up and lips slightly parted."
    assert sentences == describe("M003_front_happy_level_3_001", "happy", 3, means, gender="male", variants=6)
    assert sentences != describe("M003_front_happy_level_3_002", "happy", 3, means, gender="male", variants=6)
    happy_words = load_emotion_table()[("happy", 3)]
    for sentence in sentences:
        assert sentence.split()[0] in ("A", "The", "This")
        assert any(word in sentence for word in happy_words) or "speaks with" in sentence


def test_no_emotion_label_and_no_active_au():
    assert describe("x", "", 0, {}, gender=None, variants=1) == ["A person speaks."]


def test_unknown_emotion_group_is_an_error():
    with pytest.raises(KeyError, match="joyous"):
        describe("x", "joyous", 1, {})


def test_replaceable_tables(tmp_path):
    words = tmp_path / "words.csv"
    words.write_text("emotion,level,words\nhappy,1,sunny\n")
    sentence = describe("x", "happy", 1, {}, gender="female", variants=1, emotion_table=str(words))
    assert sentence == ["A woman looks sunny and speaks."]
