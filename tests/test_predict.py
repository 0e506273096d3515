"""The predict command: P(Male) per image with the training preprocessing, calibrated with the
model's temperature file by default (raw with --uncalibrated); clear refusals.

The printed table: a "# ..." line saying what the probability is, the column header, one row
per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from celeba_gender import synth
from celeba_gender.__main__ import main
from celeba_gender.calibration import TemperatureFit, temperature_path, write_temperature
from celeba_gender.engine import TrainSettings, save_model
from celeba_gender.metrics import sigmoid
from celeba_gender.model import build_model
from celeba_gender.predict import load_for_prediction
from celeba_gender.store import decode_resized, to_normalized


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.pt"
    settings = TrainSettings(strategy=1, lr=1e-4, epochs=1, batch_size=4, seed=0, image_size=32)
    save_model(path, build_model(None, head_seed=0), settings, epoch=1, metrics={})
    return path


def test_a_model_file_of_an_earlier_version_gives_its_image_size(tmp_path):
    """Model files written before image_size was a training setting kept it in "extra"."""
    path = tmp_path / "old.pt"
    settings = TrainSettings(strategy=1, lr=1e-4, epochs=1, batch_size=4, seed=0)
    record = settings.to_dict()
    del record["image_size"]
    record["extra"] = {"image_size": 48}
    model = build_model(None, head_seed=0)
    torch.save({"state_dict": model.state_dict(), "settings": record, "epoch": 1}, path)
    assert load_for_prediction(path)[1] == 48


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faces")
    attrs = synth.sample_attributes(3, seed=5)
    for i, row in attrs.iterrows():
        image = synth.draw_face(row.drop("image_id").to_dict(), np.random.default_rng(i))
        image.save(folder / row["image_id"])
    return folder


def test_predict_prints_a_probability_per_image_of_a_folder(trained, faces, capsys):
    assert main(["predict", "--model", str(trained), str(faces)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1] == "image\tp_male\tprediction"
    rows = [line.split("\t") for line in lines[2:]]
    assert [Path(r[0]).name for r in rows] == ["000001.jpg", "000002.jpg", "000003.jpg"]
    for _, prob, label in rows:
        assert 0.0 <= float(prob) <= 1.0
        assert label == ("male" if float(prob) > 0.5 else "female")


@pytest.mark.parametrize("threshold", [0.01, 0.3, 0.7, 0.99])
def test_the_threshold_keeps_its_meaning_male_above_it(trained, faces, capsys, threshold):
    assert (
        main(["predict", "--model", str(trained), "--threshold", str(threshold), str(faces)]) == 0
    )
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()[2:]]
    assert [label for _, _, label in rows] == [
        "male" if float(prob) > threshold else "female" for _, prob, _ in rows
    ]


@pytest.mark.parametrize("threshold", ["0", "1", "1.5"])
def test_a_threshold_outside_0_1_is_refused(trained, faces, threshold):
    with pytest.raises(SystemExit):
        main(["predict", "--model", str(trained), "--threshold", threshold, str(faces)])


def test_predict_uses_the_training_preprocessing(trained, faces, capsys):
    image = faces / "000002.jpg"
    main(["predict", "--model", str(trained), str(image)])
    printed = float(capsys.readouterr().out.strip().splitlines()[2].split("\t")[1])
    record = torch.load(trained, weights_only=True)
    model = build_model(None, head_seed=0)
    model.load_state_dict(record["state_dict"])
    expected = torch.sigmoid(model.eval()(to_normalized(decode_resized(image, 32)[None]))).item()
    assert printed == pytest.approx(expected, abs=1e-4)


def test_predict_refuses_a_file_that_is_not_an_image(trained, tmp_path, capsys):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a picture")
    assert main(["predict", "--model", str(trained), str(fake)]) == 2
    err = capsys.readouterr().err
    assert "notes.jpg" in err and "not an image" in err


def test_predict_refuses_a_missing_model(faces, tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path / "nope.pt"), str(faces)]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_predict_refuses_a_file_that_is_not_a_model(faces, tmp_path, capsys):
    bogus = tmp_path / "bogus.pt"
    torch.save([1, 2, 3], bogus)
    assert main(["predict", "--model", str(bogus), str(faces)]) == 2
    assert "bogus.pt" in capsys.readouterr().err


# ---------------------------------------------------------------- calibrated probabilities
TEMPERATURE = 0.25  # sharpens the random head's small logits: calibrated and raw differ visibly


@pytest.fixture(scope="module")
def calibrated_model(trained, tmp_path_factory) -> Path:
    """The trained model (a link: no 528 MB copy) with a temperature file beside it."""
    path = tmp_path_factory.mktemp("calibrated") / "model.pt"
    path.symlink_to(trained)
    fit = TemperatureFit(TEMPERATURE, False, "", nll_before=0.7, nll_after=0.6, n=100)
    write_temperature(temperature_path(path), fit)
    return path


@pytest.fixture(scope="module")
def raw_logit(trained, faces) -> float:
    """The model's logit for 000002.jpg, computed here without the command."""
    model, _, _ = load_for_prediction(trained)
    pixels = to_normalized(decode_resized(faces / "000002.jpg", 32)[None])
    logit = float(model.eval()(pixels).item())
    # the tests below tell calibrated from raw only if the two differ at the printed precision
    assert abs(float(sigmoid(logit / TEMPERATURE)) - float(sigmoid(logit))) > 1e-3
    return logit


def _printed(capsys) -> tuple[str, list[list[str]]]:
    lines = capsys.readouterr().out.strip().splitlines()
    return lines[0], [line.split("\t") for line in lines[2:]]


def test_predict_prints_the_calibrated_probability_when_a_temperature_file_exists(
    calibrated_model, faces, raw_logit, capsys
):
    assert main(["predict", "--model", str(calibrated_model), str(faces / "000002.jpg")]) == 0
    note, rows = _printed(capsys)
    assert note == (
        "# P(Male), calibrated with temperature 0.25 fitted on validation (model.temperature.json)"
    )
    assert float(rows[0][1]) == pytest.approx(float(sigmoid(raw_logit / TEMPERATURE)), abs=1e-4)


def test_predict_uncalibrated_prints_the_raw_probability(
    calibrated_model, faces, raw_logit, capsys
):
    image = str(faces / "000002.jpg")
    assert main(["predict", "--model", str(calibrated_model), "--uncalibrated", image]) == 0
    note, rows = _printed(capsys)
    assert note == "# P(Male), uncalibrated (--uncalibrated: sigmoid of the raw logit)"
    assert float(rows[0][1]) == pytest.approx(float(sigmoid(raw_logit)), abs=1e-4)


def test_predict_says_it_is_uncalibrated_when_the_model_has_no_temperature_file(
    trained, faces, capsys
):
    assert main(["predict", "--model", str(trained), str(faces / "000001.jpg")]) == 0
    note, _ = _printed(capsys)
    assert note == (
        "# P(Male), uncalibrated: no temperature file beside the model (model.temperature.json)"
    )


def test_the_calibrated_prediction_is_the_class_above_the_threshold(
    calibrated_model, faces, capsys
):
    assert (
        main(["predict", "--model", str(calibrated_model), "--threshold", "0.6", str(faces)]) == 0
    )
    _, rows = _printed(capsys)
    assert [label for _, _, label in rows] == [
        "male" if float(prob) > 0.6 else "female" for _, prob, _ in rows
    ]


def test_predict_words_the_probability_and_classes_after_the_target(trained, faces, capsys):
    assert main(["predict", "--model", str(trained), "--target", "Smiling", str(faces)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("# P(Smiling), uncalibrated")
    assert lines[1] == "image\tp_smiling\tprediction"
    assert {line.split("\t")[2] for line in lines[2:]} <= {"Smiling", "not Smiling"}


def test_predict_refuses_an_unreadable_temperature_file(trained, faces, tmp_path, capsys):
    model = tmp_path / "best.pt"
    model.symlink_to(trained)
    temperature_path(model).write_text("{not json")
    assert main(["predict", "--model", str(model), str(faces)]) == 2
    err = capsys.readouterr().err
    assert "best.temperature.json" in err and "not a temperature file" in err


def test_predict_words_the_probability_after_the_target_its_model_file_records(
    tmp_path, faces, capsys
):
    """A model of a run with data.target: Blond_Hair says so without --target."""
    path = tmp_path / "blond.pt"
    settings = TrainSettings(
        strategy=1, lr=1e-4, epochs=1, batch_size=4, seed=0, image_size=32, target="Blond_Hair"
    )
    save_model(path, build_model(None, head_seed=0), settings, epoch=1, metrics={})
    assert main(["predict", "--model", str(path), str(faces)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "P(Blond_Hair)" in lines[0]
    assert lines[1] == "image\tp_blond_hair\tprediction"
    assert {line.split("\t")[2] for line in lines[2:]} <= {"Blond_Hair", "not Blond_Hair"}
