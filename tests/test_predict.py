"""The predict command: P(Male) per image with the training preprocessing; clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from celeba_gender import synth
from celeba_gender.__main__ import main
from celeba_gender.engine import TrainSettings, save_model
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
    assert lines[0] == "image\tp_male\tprediction"
    rows = [line.split("\t") for line in lines[1:]]
    assert [Path(r[0]).name for r in rows] == ["000001.jpg", "000002.jpg", "000003.jpg"]
    for _, prob, label in rows:
        assert 0.0 <= float(prob) <= 1.0
        assert label == ("male" if float(prob) > 0.5 else "female")


@pytest.mark.parametrize("threshold", [0.01, 0.3, 0.7, 0.99])
def test_the_threshold_keeps_its_meaning_male_above_it(trained, faces, capsys, threshold):
    assert (
        main(["predict", "--model", str(trained), "--threshold", str(threshold), str(faces)]) == 0
    )
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()[1:]]
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
    printed = float(capsys.readouterr().out.strip().splitlines()[1].split("\t")[1])
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
