"""Unit-quality metrics on hand-made tables, the unit_metrics CLI, and espeak-ng phone labels."""
import json
import math

import numpy as np
import pytest

from lst.units.features import SAMPLE_RATE, frame_log_energy, num_frames_50hz
from lst.units.metrics import (frame_labels, joint_counts, pnmi_paired_bootstrap, quality_from_counts,
                               rate_stats, unit_quality)


def test_perfect_and_independent_tables():
    perfect = quality_from_counts(np.array([[2.0, 0.0], [0.0, 2.0]]))
    assert perfect.pnmi == pytest.approx(1.0)
    assert perfect.phone_purity == pytest.approx(1.0) and perfect.cluster_purity == pytest.approx(1.0)
    independent = quality_from_counts(np.array([[1.0, 1.0], [1.0, 1.0]]))
    assert independent.pnmi == pytest.approx(0.0, abs=1e-12)
    assert independent.phone_purity == pytest.approx(0.5)
    assert independent.cluster_purity == pytest.approx(0.5)


def test_asymmetric_table_known_values():
    # phones a, b; units 0, 1, 2. a: [3, 1, 0], b: [0, 1, 3]  (8 frames)
    q = quality_from_counts(np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 3.0]]))
    assert q.phone_purity == pytest.approx(7 / 8)   # (3 + 1 + 3) / 8: unit 1 is split
    assert q.cluster_purity == pytest.approx(6 / 8)  # (3 + 3) / 8
    # I(y;z) = 2 * 3/8 * ln 2 (units 0 and 2 determine the phone; unit 1 says nothing), H(y) = ln 2
    assert q.pnmi == pytest.approx(0.75)
    assert (q.n_frames, q.n_phones, q.n_units_used) == (8, 2, 3)


def test_more_units_than_phones_keeps_phone_purity_and_lowers_cluster_purity():
    # each phone split evenly over two units: units are pure, phones are not
    q = quality_from_counts(np.array([[2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 2.0]]))
    assert q.phone_purity == pytest.approx(1.0)
    assert q.cluster_purity == pytest.approx(0.5)
    assert q.pnmi == pytest.approx(1.0)  # the unit still determines the phone


def test_unit_quality_from_frame_sequences_matches_the_table():
    pairs = [(["a", "a", "a", "b"], [0, 0, 0, 1]), (["b", "b", "b", "a"], [2, 2, 2, 1])]
    q, counts, labels = unit_quality(pairs)
    assert labels == ["a", "b"]
    np.testing.assert_array_equal(counts, [[3, 1, 0], [0, 1, 3]])
    assert q.pnmi == pytest.approx(0.75)
    with pytest.raises(ValueError, match="2 phone labels for 3 units"):
        unit_quality([(["a", "b"], [0, 1, 2])])
    np.testing.assert_array_equal(joint_counts([0, 1, 1], [1, 0, 0], 2, 2), [[0, 1], [2, 0]])


def test_rate_stats_dedup_ratio_and_bitrate():
    r = rate_stats([[5, 5, 5, 2, 2, 7]], unit_rate_hz=50)
    assert r["units_per_s"] == 50 and r["dedup_units_per_s"] == 25
    assert r["dedup_length_ratio"] == 0.5
    h_raw = -(0.5 * math.log2(0.5) + (1 / 3) * math.log2(1 / 3) + (1 / 6) * math.log2(1 / 6))
    assert r["bitrate_bps"] == pytest.approx(50 * h_raw, abs=0.01)
    assert r["dedup_bitrate_bps"] == pytest.approx(25 * math.log2(3), abs=0.01)
    r25 = rate_stats([[1, 2, 3, 4]], unit_rate_hz=25)
    assert r25["units_per_s"] == 25 and r25["dedup_length_ratio"] == 1.0


def test_frame_labels_use_frame_centres():
    spans = [("a", 0.0, 0.03), ("b", 0.03, 0.1)]
    # centres 0.01 0.03 0.05 0.07 0.09 0.11
    assert frame_labels(spans, 6, 50) == ["a", "b", "b", "b", "b", "sil"]
    assert frame_labels(spans, 3, 25) == ["a", "b", "sil"]  # centres 0.02 0.06 0.10
    assert frame_labels([], 2, 50) == ["sil", "sil"]


def test_unit_metrics_cli_and_collect(tmp_path):
    from lst.bin.unit_metrics import main

    units = tmp_path / "units" / "toy" / "ev"
    units.mkdir(parents=True)
    (units / "units").write_text("u1 0 0 0 1\nu2 2 2 2 1\nu3 0 0\n")
    (units / "unit_info.json").write_text(json.dumps(
        {"unit_rate_hz": 50, "n_units": 3, "dedup": False, "feature_type": "mfcc"}))
    # frame centres 0.01 0.03 0.05 0.07
    (tmp_path / "phone_ctm").write_text(
        "u1 a 0.00 0.06\nu1 b 0.06 0.08\nu2 b 0.00 0.06\nu2 a 0.06 0.08\n")
    out = tmp_path / "rows" / "ev" / "toy.json"
    main(["--units_dir", str(units), "--phone_ctm", str(tmp_path / "phone_ctm"),
          "--out_json", str(out)])
    row = json.loads(out.read_text())
    assert row["units"] == "toy" and row["eval_set"] == "ev" and row["n_utts"] == 2  # u3 skipped
    assert row["pnmi"] == pytest.approx(0.75) and row["phone_purity"] == pytest.approx(0.875)
    assert row["units_per_s"] == 50 and row["dedup_length_ratio"] == pytest.approx(0.5)
    main(["collect", "--in_dir", str(tmp_path / "rows"), "--out_json", str(tmp_path / "R.json"),
          "--out_md", str(tmp_path / "R.md")])
    assert json.loads((tmp_path / "R.json").read_text()) == [row]
    table = (tmp_path / "R.md").read_text().splitlines()
    assert table[0].startswith("| units | eval_set | pnmi") and table[2].startswith("| toy | ev | 0.75 |")


def test_pnmi_paired_bootstrap_separates_a_phone_code_from_noise():
    rng = np.random.default_rng(0)
    phones = [[str(p) for p in rng.integers(0, 5, size=40)] for _ in range(30)]
    exact = [(ph, [int(p) for p in ph]) for ph in phones]                  # one unit per phone: PNMI 1
    noise = [(ph, list(rng.integers(0, 5, size=len(ph)))) for ph in phones]  # independent of the phones
    d = pnmi_paired_bootstrap(exact, noise, n_boot=200)
    assert d["n_utts"] == 30 and d["pnmi_a"] == pytest.approx(1.0)
    assert d["pnmi_b"] == pytest.approx(unit_quality(noise)[0].pnmi) and d["pnmi_b"] < 0.05
    assert d["difference"] == pytest.approx(d["pnmi_a"] - d["pnmi_b"]) and 0.9 < d["ci95"][0] <= d["ci95"][1]
    same = pnmi_paired_bootstrap(noise, noise, n_boot=50)
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="30 vs 29 utterances"):
        pnmi_paired_bootstrap(exact, noise[:-1])


def test_unit_metrics_compare_cli(tmp_path, capsys):
    from lst.bin.unit_metrics import main

    (tmp_path / "phone_ctm").write_text("u1 a 0.00 0.04\nu1 b 0.04 0.08\nu2 b 0.00 0.04\nu2 a 0.04 0.08\n")
    for name, lines in (("good", "u1 0 0 1 1\nu2 1 1 0 0\n"), ("bad", "u1 0 1 0 1\nu2 0 1 0 1\nu9 0 0\n")):
        d = tmp_path / name
        d.mkdir()
        (d / "units").write_text(lines)
        (d / "unit_info.json").write_text(json.dumps({"unit_rate_hz": 50, "n_units": 2, "dedup": False}))
    out = tmp_path / "cmp.json"
    main(["compare", "--units_dirs", str(tmp_path / "good"), str(tmp_path / "bad"), "--phone_ctm",
          str(tmp_path / "phone_ctm"), "--n_boot", "20", "--out_json", str(out)])
    r = json.loads(out.read_text())
    assert r["n_utts"] == 2 and r["pnmi_a"] == pytest.approx(1.0) and r["pnmi_b"] == pytest.approx(0.0)
    assert r["difference"] == pytest.approx(1.0) and json.loads(capsys.readouterr().out) == r


def test_unit_metrics_dedup_units_are_expanded(tmp_path):
    from lst.bin.unit_metrics import score

    d = tmp_path / "u"
    d.mkdir()
    (d / "units").write_text("u1 0 1\n")
    (d / "durations").write_text("u1 3 1\n")
    (d / "unit_info.json").write_text(json.dumps({"unit_rate_hz": 50, "n_units": 2, "dedup": True}))
    (tmp_path / "ctm").write_text("u1 a 0.00 0.06\nu1 b 0.06 0.08\n")
    row = score(str(d), str(tmp_path / "ctm"), "x", "y")
    assert row["pnmi"] == pytest.approx(1.0) and row["n_frames"] == 4


espeak = pytest.importorskip("lst.tts.espeak")


@pytest.mark.skipif(not espeak.espeak_available(), reason="espeak-ng not installed")
def test_espeak_phone_labels_line_up_with_audio_frames():
    from lst.tts.espeak import EspeakSynthesizer, phone_label

    syn = EspeakSynthesizer(sample_rate=SAMPLE_RATE)
    syn.set_voice("en-us", 160)
    res = syn.synthesize("Sister Sue sells sea shells. Then she rests.", utt="t")
    phones = res.phones
    # contiguous spans covering the whole audio, silence at both ends and at the sentence pause
    assert phones[0].start == 0.0 and phones[-1].end == pytest.approx(res.duration, abs=1e-3)
    assert all(a.end == b.start for a, b in zip(phones, phones[1:]))
    assert phones[0].word == "sil" and phones[-1].word == "sil"
    assert any(p.word == "sil" and p.end - p.start > 0.1 for p in phones[1:-1])
    # every word starts at a phone onset, within one 20 ms frame (espeak-ng reports a word's
    # event ~13 ms before its first phoneme's): both come from the same synthesis
    onsets = np.array([p.start for p in phones])
    assert all(np.abs(onsets - w.start).min() <= 0.02 for w in res.words)
    # the audio agrees: frames labelled silence are far quieter than frames labelled /s/ or vowels
    n = num_frames_50hz(len(res.audio))
    labels = np.array(frame_labels([(p.word, p.start, p.end) for p in phones], n, 50))
    energy = frame_log_energy(res.audio)
    speech = energy[labels != "sil"]
    inner_sil = energy[(labels == "sil") & (np.arange(n) > 10) & (np.arange(n) < n - 10)]
    assert len(inner_sil) > 3 and np.median(speech) - np.median(inner_sil) > 30
    s_frames = energy[labels == "s"]
    assert len(s_frames) >= 5 and np.median(s_frames) - np.median(inner_sil) > 20
    assert phone_label("I2") == "I" and phone_label("_:") == "sil" and phone_label(";") is None


def test_speed_reports_real_time_factors(tmp_path, capsys):
    from lst.bin.unit_metrics import main

    out = tmp_path / "speed.json"
    main(["speed", "--feature_type", "mfcc", "--seconds", "4", "--out_json", str(out)])
    row = json.loads(out.read_text())
    assert row["audio_s"] == 4.0 and row["feature_type"] == "mfcc"
    assert row["x_realtime_cpu"] > 0 and row["x_realtime_wall"] > 0
    assert row["x_realtime_wall"] == pytest.approx(row["audio_s"] / row["wall_s"], rel=0.05)
