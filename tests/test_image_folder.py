"""``--dataset imagefolder``: torchvision's ImageFolder on real PNG files written here with PIL."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.cli import main
from parareal_toolkit.training import TrainConfig, load_dataset
from parareal_toolkit.training.data import image_folder_spec, num_classes_of

# three classes a network tells apart at a glance, whatever the crop and flip: a bright
# blob in one colour channel, at a random place
_CHANNELS = {"red": 0, "green": 1, "blue": 2}


def write_folder(root, *, side=16, per_class=(24, 8), classes=tuple(_CHANNELS), seed=0):
    """``root/train/<class>/*.png`` and ``root/test/<class>/*.png``: noise plus a blob in the class's colour."""
    rng = np.random.default_rng(seed)
    for split, count in zip(("train", "test"), per_class):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = rng.integers(0, 90, size=(side, side, 3), dtype=np.uint8)
                top, left = rng.integers(0, side // 2, size=2)
                image[top : top + side // 2, left : left + side // 2, _CHANNELS.get(name, 0)] += 150
                Image.fromarray(image).save(folder / f"{i}.png")
    return root


def test_spec_takes_classes_side_and_statistics_from_the_files(tmp_path):
    root = write_folder(tmp_path / "images", per_class=(4, 2))
    spec = image_folder_spec(root)
    assert spec.num_classes == 3 and spec.image_size == 16
    pixels = np.stack(
        [np.asarray(Image.open(p), dtype=np.float64) / 255 for p in sorted((root / "train").rglob("*.png"))]
    )
    np.testing.assert_allclose(spec.mean, pixels.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(spec.std, pixels.std(axis=(0, 1, 2)), rtol=1e-6)
    given = image_folder_spec(root, image_size=8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert given.image_size == 8 and given.mean == (0.5, 0.5, 0.5)
    train = load_dataset("imagefolder", train=True, data_dir=root, image_size=8)
    image, label = train[0]
    assert image.shape == (3, 8, 8) and label == 0 and len(train) == 12
    test = load_dataset("imagefolder", train=False, data_dir=root)
    assert test[0][0].shape == (3, 16, 16) and len(test) == 6
    # normalised with the training statistics: the training pixels have mean 0 per channel
    plain = load_dataset("imagefolder", train=True, data_dir=root, augment=False)
    stacked = torch.stack([plain[i][0] for i in range(len(plain))]).double()
    assert stacked.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert num_classes_of("imagefolder", root) == 3


@pytest.mark.slow
@pytest.mark.usefixtures("single_torch_thread")
def test_train_a_parareal_resnet_on_an_image_folder_below_chance(tmp_path, capsys):
    root = write_folder(tmp_path / "images")
    run_dir = tmp_path / "run"
    code = main(
        [
            "train",
            "--model",
            "parareal-resnet",
            "-N",
            "2",
            "--split",
            "cost",
            "--depth",
            "11",
            "--dataset",
            "imagefolder",
            "--data-dir",
            str(root),
            "--epochs",
            "6",
            "--batch-size",
            "12",
            "--lr",
            "0.05",
            "--milestones",
            "5",
            "--workers",
            "0",
            "--quiet",
            "-o",
            str(run_dir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    final = json.loads((run_dir / "final.json").read_text())
    assert final["config"]["dataset"] == "imagefolder" and final["config"]["split"] == "cost"
    chance = 2 / 3
    assert final["final_test_error"] < chance / 2  # 24 test images of 3 classes
    assert main(["evaluate", str(run_dir / "checkpoint.pt"), "--json", "--device", "cpu", "--workers", "0"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 24 and result["error"] == pytest.approx(final["final_test_error"])


def _train(tmp_path, root, *extra):
    return main(
        [
            "train",
            "--dataset",
            "imagefolder",
            "--data-dir",
            str(root),
            "--depth",
            "11",
            "--epochs",
            "1",
            "--workers",
            "0",
            "--quiet",
            "-o",
            str(tmp_path / "out"),
            *extra,
        ]
    )


def test_missing_empty_and_mismatched_folders_are_refused_in_one_line(tmp_path, capsys):
    assert _train(tmp_path, tmp_path / "nowhere") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere/train does not exist" in err

    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    (empty / "test").mkdir()
    assert _train(tmp_path, empty) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no labelled images" in err

    mismatched = write_folder(tmp_path / "mismatched", per_class=(1, 1))
    (mismatched / "test" / "blue").rename(mismatched / "test" / "elsewhere")
    assert _train(tmp_path, mismatched) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differ" in err and "elsewhere" in err


def test_image_options_belong_to_image_folders_only():
    with pytest.raises(ValueError, match="image_size"):
        TrainConfig(dataset="cifar10", image_size=32)
    with pytest.raises(ValueError, match="std"):
        TrainConfig(dataset="imagefolder", std=[0.2, 0.0, 0.2])
    with pytest.raises(ValueError, match="mean"):
        TrainConfig(dataset="imagefolder", mean=[0.2, 0.2])
    with pytest.raises(ValueError, match="split"):
        TrainConfig(split="memory")
