"""Image folders are sane (issue 20): links without loops, hidden and non-image entries skipped,
two classes, every file checked before the first epoch, ``evaluate`` checked against the
checkpoint, a worker's error in one line. Real PNG/JPEG files written with PIL."""

import io
import json
import os
import re
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_image_folder import write_folder
from torch.utils.data import Dataset
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.cli import main
from parareal_toolkit.errors import DatasetFormatError, DatasetNotFoundError
from parareal_toolkit.training import load_dataset
from parareal_toolkit.training.checkpoint import load_checkpoint, save_checkpoint
from parareal_toolkit.training.data import image_folder_spec, num_classes_of
from parareal_toolkit.training.evaluation import checkpoint_data_dir
from parareal_toolkit.training.loaders import OneLineErrorsLoader, worker_error


def _counts(root, split="train"):
    """Images per class of one split, as the loader labels them."""
    data = load_dataset("imagefolder", train=split == "train", data_dir=root, augment=False)
    labels = [label for _, label in data.samples]
    return {name: labels.count(i) for i, name in enumerate(data.classes)}


def _truncated_jpeg(path):
    """A JPEG whose header is whole but whose pixel data stops half way (PIL opens and verifies it)."""
    noise = np.random.default_rng(1).integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).resize((64, 64)).save(buffer, "JPEG")
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2])
    return path


def _train(root, out, *extra):
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
            "--batch-size",
            "4",
            "--quiet",
            "-o",
            str(out),
            *extra,
        ]
    )


# ---------------------------------------------------------------- links, hidden and other entries


def test_a_symlink_loop_inside_a_class_folder_adds_no_image(tmp_path, capsys):
    root = write_folder(tmp_path / "images", per_class=(3, 1))
    before = _counts(root)
    red = root / "train" / "red"
    os.symlink("..", red / "loop")  # train/red/loop -> train: every class again, under "red"
    os.symlink("../..", red / "up")  # -> the data folder, which holds train/
    os.symlink("../green", red / "green-too")  # another class's images under "red"
    os.symlink("red", root / "train" / "red-again")  # a second class made of the same folder
    assert _counts(root) == before == {"blue": 3, "green": 3, "red": 3}
    err = capsys.readouterr().err
    assert "skipped 4 entries" in err and "red/loop" in err


def test_a_linked_folder_outside_the_split_is_followed_once(tmp_path):
    root = write_folder(tmp_path / "images", per_class=(3, 1))
    extra = write_folder(tmp_path / "more", per_class=(2, 0), classes=("red",), seed=1) / "train" / "red"
    os.symlink(extra, root / "train" / "red" / "more")
    os.symlink(extra, root / "train" / "green" / "more")  # the same folder again: counted once
    # under the first class (in name order) that reaches it
    assert _counts(root) == {"blue": 3, "green": 5, "red": 3}


def test_hidden_and_non_image_entries_are_skipped_and_listed_once(tmp_path, capsys):
    root = write_folder(tmp_path / "images", per_class=(2, 1))
    checkpoints = root / "train" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    Image.new("RGB", (16, 16)).save(checkpoints / "copy.png")
    (root / "train" / ".DS_Store").write_bytes(b"\0\1")
    (root / "train" / "README.txt").write_text("not a class")
    (root / "train" / "red" / "notes.txt").write_text("not an image")
    (root / "train" / "red" / ".hidden.png").write_bytes(b"")
    os.symlink(root / "nowhere.png", root / "train" / "blue" / "broken.png")
    spec = image_folder_spec(root)
    assert spec.num_classes == 3 and num_classes_of("imagefolder", root) == 3
    assert _counts(root) == {"blue": 2, "green": 2, "red": 2}
    assert _counts(root, "test") == {"blue": 1, "green": 1, "red": 1}
    notes = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(notes) == 1  # listed once, however often the folder is read
    assert "skipped 6 entries" in notes[0] and ".DS_Store (hidden)" in notes[0] and notes[0].endswith(", ...")


def test_the_cli_lists_skipped_entries_in_one_line_and_trains(tmp_path, capsys):
    root = write_folder(tmp_path / "images", per_class=(2, 1))
    (root / "test" / ".ipynb_checkpoints").mkdir()
    assert _train(root, tmp_path / "run", "--workers", "0") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"parareal: note: image folder {root / 'test'}: skipped 1 entry (each with its reason): "
                   ".ipynb_checkpoints (hidden)"]  # fmt: skip
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert final["config"]["data_dir"] == str(root)  # stored absolute


# ---------------------------------------------------------------- classes


def test_one_class_is_refused_naming_the_folder(tmp_path, capsys):
    root = write_folder(tmp_path / "one", per_class=(2, 1), classes=("red",))
    (root / "train" / ".ipynb_checkpoints").mkdir()  # a hidden folder is no second class
    with pytest.raises(DatasetFormatError, match=r"one class folder \('red'\); classification needs at least two"):
        load_dataset("imagefolder", train=True, data_dir=root)
    assert _train(root, tmp_path / "run", "--workers", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and f"{root / 'train'} has one class folder" in err[1]
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_class_folder_without_images_is_refused_naming_it(tmp_path):
    root = write_folder(tmp_path / "images", per_class=(2, 1))
    (root / "train" / "purple").mkdir()
    (root / "train" / "purple" / "readme.txt").write_text("no images")
    with pytest.raises(DatasetNotFoundError, match=r"no labelled images in the class folder\(s\) \['purple'\]"):
        load_dataset("imagefolder", train=True, data_dir=root)


# ---------------------------------------------------------------- bad files named before the first epoch


@pytest.mark.parametrize("damage", ["garbage", "truncated-png", "empty"])
def test_a_bad_test_image_is_named_before_any_epoch(tmp_path, capsys, damage):
    root = write_folder(tmp_path / "images", per_class=(2, 1))
    bad = root / "test" / "green" / "bad.png"
    if damage == "garbage":
        bad.write_bytes(b"this is not a PNG file")
    elif damage == "truncated-png":
        whole = (root / "test" / "green" / "0.png").read_bytes()
        bad.write_bytes(whole[: len(whole) - 20])  # the IEND chunk and part of the data are gone
    else:
        bad.write_bytes(b"")
    # building the training split already checks test/: nothing has been trained
    with pytest.raises(DatasetFormatError, match=f"image {bad} is not a readable image"):
        load_dataset("imagefolder", train=True, data_dir=root)
    assert _train(root, tmp_path / "run", "--workers", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"parareal train: error: image {bad} is not a readable image")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_file_that_passes_the_check_but_fails_to_decode_is_named(tmp_path):
    root = write_folder(tmp_path / "images", per_class=(2, 1))
    bad = _truncated_jpeg(root / "test" / "red" / "cut.jpg")
    test = load_dataset("imagefolder", train=False, data_dir=root)  # the header check passes
    index = [path for path, _ in test.samples].index(str(bad))
    with pytest.raises(DatasetFormatError, match=f"image {bad} cannot be decoded"):
        test[index]


# ---------------------------------------------------------------- worker errors


class _Raising(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        if index == 2:
            raise DatasetFormatError("image /data/x.png cannot be decoded (broken); remove or replace it.")
        return torch.tensor(float(index))


def test_a_worker_error_keeps_its_type_and_message():
    for workers in (0, 1):
        with pytest.raises(DatasetFormatError) as info:
            list(OneLineErrorsLoader(_Raising(), batch_size=1, num_workers=workers))
        assert str(info.value) == "image /data/x.png cannot be decoded (broken); remove or replace it."
    assert worker_error(RuntimeError("DataLoader worker (pid 7) is killed by signal: Killed.")) is None


@pytest.mark.usefixtures("single_torch_thread")
@pytest.mark.parametrize("workers", [["--workers", "1"], []], ids=["workers-1", "default-workers"])
def test_a_data_error_in_a_worker_is_one_line(tmp_path, capsys, workers):
    root = write_folder(tmp_path / "images", per_class=(2, 1))
    bad = _truncated_jpeg(root / "test" / "red" / "cut.jpg")
    assert _train(root, tmp_path / "run", *workers) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # PIL's detail (how many bytes it could not process) depends on its version: not asserted
    assert len(err) == 1, err
    assert err[0].startswith(f"parareal train: error: image {bad} cannot be decoded (image file is truncated")
    assert (
        err[0].endswith("; remove or replace it.") and "Traceback" not in err[0] and "DataLoader worker" not in err[0]
    )


# ---------------------------------------------------------------- evaluate against the checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch ResNet-11 run on a three-class folder of 16x16 images."""
    base = tmp_path_factory.mktemp("evaluate")
    root = write_folder(base / "images", per_class=(2, 2))
    assert _train(root, base / "run", "--workers", "0") == 0
    return base, root, base / "run" / "checkpoint.pt"


def _evaluate(checkpoint, *extra):
    return main(["evaluate", str(checkpoint), "--json", "--device", "cpu", "--workers", "0", *extra])


@pytest.mark.usefixtures("single_torch_thread")
def test_evaluate_on_the_training_folder_from_another_folder(trained, capsys, monkeypatch, tmp_path):
    _, _, checkpoint = trained
    monkeypatch.chdir(tmp_path)
    assert _evaluate(checkpoint) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    final = json.loads((checkpoint.parent / "final.json").read_text())
    assert result["images"] == 6 and result["error"] == final["final_test_error"]


@pytest.mark.parametrize(
    ("classes", "side", "fragment"),
    [
        (("red", "green", "purple"), 16, r"are not those .* only in the test folder: \['purple'\]"),
        (("red", "green"), 16, r"\(2\) are not those .* \(3, in"),
        (("red", "green", "blue", "yellow"), 16, r"\(4\) are not those .* \(3, in"),
        (("red", "green", "blue"), 8, "is 8x8, but checkpoint .* was trained on 16x16 images"),
    ],
    ids=["other-names", "fewer", "more", "other-side"],
)
def test_evaluate_refuses_a_folder_that_does_not_match_the_checkpoint(
    trained, capsys, tmp_path, classes, side, fragment
):
    _, _, checkpoint = trained
    other = write_folder(tmp_path / "other", per_class=(1, 1), classes=classes, side=side)
    assert _evaluate(checkpoint, "--data-dir", str(other)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("parareal evaluate: error: evaluate: ")
    assert re.search(fragment, err[0]), err[0]


def test_a_moved_training_folder_is_checked_by_the_classifier_size(trained, capsys, tmp_path):
    _, root, checkpoint = trained
    state = load_checkpoint(checkpoint)
    state["config"]["data_dir"] = str(tmp_path / "gone")
    moved = save_checkpoint(tmp_path / "moved.pt", {k: v for k, v in state.items() if k != "format"})
    two = write_folder(tmp_path / "two", per_class=(1, 1), classes=("red", "green"))
    assert _evaluate(moved, "--data-dir", str(two)) == 2
    err = capsys.readouterr().err.strip()
    assert "classifies 3 classes, but" in err and len(err.splitlines()) == 1
    assert _evaluate(moved, "--data-dir", str(root)) == 0  # the same data, elsewhere


@pytest.mark.usefixtures("single_torch_thread")
def test_a_relative_data_dir_is_read_from_the_checkpoints_folder(trained, capsys, tmp_path, monkeypatch):
    _, root, checkpoint = trained
    state = load_checkpoint(checkpoint)
    state["config"]["data_dir"] = "images"  # relative, as a run configured through the API stores it
    project = tmp_path / "project"
    project.mkdir()
    os.symlink(root, project / "images")
    copy = save_checkpoint(project / "checkpoint.pt", {k: v for k, v in state.items() if k != "format"})
    assert checkpoint_data_dir(copy, "images") == str(project / "images")
    assert checkpoint_data_dir(copy, str(root)) == str(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no images/ here: the current folder is not where to look
    assert _evaluate(copy) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["images"] == 6


def test_default_workers_are_at_most_the_usable_cpus(monkeypatch):
    from parareal_toolkit.training.loaders import default_workers

    usable = len(os.sched_getaffinity(0))
    assert default_workers(4) == min(4, usable) and default_workers(0) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert default_workers(4) == 1 and default_workers(1) == 1


# ---------------------------------------------------------------- the scan's claim, on drawn trees of links

_LINK_TARGETS = (
    "split",
    "data",
    "own class",
    "other class",
    "other class's subfolder",
    "other class's image",
    "outside",
)


@settings(suppress_health_check=[HealthCheck.too_slow])  # examples: the profile (ci 30, dev 300)
@given(
    images=st.lists(st.tuples(st.integers(1, 2), st.integers(0, 2)), min_size=2, max_size=3),
    links=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(_LINK_TARGETS), st.integers(0, 2)), max_size=6),
)
def test_every_stored_image_is_counted_once_with_its_own_class_whatever_the_links(images, links):
    """Images stored under ``train/<class>/`` (directly or in a subfolder): once each, labelled
    ``<class>``; images outside the split reached through links: once each, under the first
    class (in name order) that links to them; nothing else, whatever links point where."""
    from parareal_toolkit.training.image_folders import _scan_split

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.realpath(tmp)
        split = os.path.join(data, "train")
        names = [f"c{i}" for i in range(len(images))]
        expected = {}
        for name, (direct, nested) in zip(names, images):
            for sub, count in (("", direct), ("sub", nested)):
                folder = os.path.join(split, name, sub)
                os.makedirs(folder, exist_ok=True)
                for k in range(count):
                    path = os.path.join(folder, f"{k}.png")
                    Image.new("RGB", (2, 2)).save(path)
                    expected[path] = names.index(name)
        outside = os.path.join(data, "outside")
        os.makedirs(outside)
        Image.new("RGB", (2, 2)).save(os.path.join(outside, "far.png"))
        linkers = []
        for k, (source, target, other) in enumerate(links):
            source, other = source % len(names), other % len(names)
            if other == source:
                other = (other + 1) % len(names)
            where = {
                "split": split,
                "data": data,
                "own class": os.path.join(split, names[source]),
                "other class": os.path.join(split, names[other]),
                "other class's subfolder": os.path.join(split, names[other], "sub"),
                "other class's image": os.path.join(split, names[other], "0.png"),
                "outside": outside,
            }[target]
            os.symlink(where, os.path.join(split, names[source], f"link{k}"))
            if target == "outside":
                linkers.append(source)
        if linkers:
            expected[os.path.join(outside, "far.png")] = min(linkers)
        scan = _scan_split(split)
        assert scan.classes == names
        counted = [(os.path.realpath(path), label) for path, label in scan.samples]
        assert len(counted) == len({path for path, _ in counted})  # no image twice
        assert dict(counted) == expected


def test_under_torchrun_only_rank_0_lists_skipped_entries(tmp_path, capsys, monkeypatch):
    root = write_folder(tmp_path / "images", per_class=(1, 1))
    (root / "train" / "notes.txt").write_text("not a class")
    monkeypatch.setenv("RANK", "1")
    assert _counts(root) == {"blue": 1, "green": 1, "red": 1}
    assert "skipped" not in capsys.readouterr().err
    monkeypatch.setenv("RANK", "0")
    assert _counts(root) == {"blue": 1, "green": 1, "red": 1}
    assert "skipped 1 entry (each with its reason): notes.txt (not a folder)" in capsys.readouterr().err
