"""CIFAR through torchvision's real loader on files in the real on-disk format; synthetic sets."""

import numpy as np
import pytest
import torch
from cifar_files import CIFAR10_FILES, accept_checksums, write_cifar10, write_cifar100
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.cli import main
from parareal_toolkit.training.class_patterns import ClassPatterns
from parareal_toolkit.training.data import DATASETS, DatasetNotFoundError, load_dataset, train_transform

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    written = {"cifar10": write_cifar10(tmp_path), "cifar100": write_cifar100(tmp_path)}
    accept_checksums(monkeypatch, tmp_path)
    return tmp_path, written


def _unnormalise(tensor, dataset):
    spec = DATASETS[dataset]
    mean, std = torch.tensor(spec.mean)[:, None, None], torch.tensor(spec.std)[:, None, None]
    return torch.round((tensor * std + mean) * 255).to(torch.uint8)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_real_loader_reads_every_image_and_label(cifar_root, dataset):
    root, written = cifar_root
    for train, key in ((True, "train"), (False, "test")):
        ds = load_dataset(dataset, train=train, data_dir=root, augment=False)
        assert type(ds).__module__ == "torchvision.datasets.cifar"
        expected = written[dataset][f"{key}_data"]
        assert len(ds) == len(expected)
        assert ds.targets == written[dataset][f"{key}_labels"]
        for i in (0, len(ds) - 1):
            image, label = ds[i]
            assert image.shape == (3, 32, 32) and image.dtype == torch.float32
            assert label == written[dataset][f"{key}_labels"][i]
            # no augmentation: normalisation is the only change, and it is invertible
            assert torch.equal(_unnormalise(image, dataset), torch.from_numpy(expected[i].reshape(3, 32, 32)))
    assert len(ds.classes) == DATASETS[dataset].num_classes


def test_augmentation_is_pad_crop_flip(cifar_root):
    root, _ = cifar_root
    ds = load_dataset("cifar10", train=True, data_dir=root)
    names = [type(t).__name__ for t in ds.transform.transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert ds.transform.transforms[0].padding == 4 and ds.transform.transforms[0].size == (32, 32)
    torch.manual_seed(0)
    crops = {tuple(ds[0][0].flatten()[:64].tolist()) for _ in range(8)}
    assert len(crops) > 1  # random
    test = load_dataset("cifar10", train=False, data_dir=root)
    assert [type(t).__name__ for t in test.transform.transforms] == ["ToTensor", "Normalize"]


def test_checksums_are_really_checked(cifar_root, tmp_path):
    root, _ = cifar_root
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-1] + b"\x00")  # same size, one byte changed
    with pytest.raises(DatasetNotFoundError, match="not found or corrupted"):
        load_dataset("cifar10", train=True, data_dir=root)


def test_official_checksums_reject_the_fixture(tmp_path):
    """Without accept_checksums torchvision insists on the official md5 sums."""
    write_cifar10(tmp_path)
    with pytest.raises(DatasetNotFoundError):
        load_dataset("cifar10", train=False, data_dir=tmp_path)


@pytest.mark.parametrize("dataset, folder", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")])
def test_missing_dataset_exits_2_naming_the_folder_and_the_fix(tmp_path, capsys, dataset, folder):
    code = main(
        [
            "train",
            "--dataset",
            dataset,
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--depth",
            "11",
            "--epochs",
            "1",
            "--workers",
            "0",
            "--quiet",
            "-o",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(tmp_path / "nowhere" / folder) in err and "--download" in err


def test_corrupt_dataset_via_cli_exits_2(cifar_root, capsys):
    root, _ = cifar_root
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    code = main(["evaluate", "/nonexistent.pt"])  # a missing checkpoint is a user error too
    assert code == 2 and "does not exist" in capsys.readouterr().err
    code = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(root),
            "--depth",
            "11",
            "--epochs",
            "1",
            "--workers",
            "0",
            "--yes",  # estimated as CIFAR-10's 50,000 images: past the estimate to the data
            "--quiet",
            "-o",
            str(root / "run"),
        ]
    )
    assert code == 2 and "corrupted" in capsys.readouterr().err


def test_fixture_writes_the_real_file_names(tmp_path):
    write_cifar10(tmp_path)
    assert sorted(p.name for p in (tmp_path / "cifar-10-batches-py").iterdir()) == sorted(CIFAR10_FILES)


def test_class_patterns_are_deterministic_and_class_dependent():
    ds = ClassPatterns(40, seed=3)
    a, b = ds[7], ds[7]
    assert a[1] == b[1] == 7 and np.array_equal(np.asarray(a[0]), np.asarray(b[0]))
    images = np.stack([np.asarray(ds[i][0], dtype=float) for i in range(40)])
    labels = np.array([ds[i][1] for i in range(40)])
    means = np.stack([images[labels == c].mean(0) for c in range(10)])
    # nearest class mean classifies held-out images (other noise) perfectly
    held_out = ClassPatterns(20, seed=3, index_offset=1000)
    hits = [
        np.argmin(((means - np.asarray(held_out[i][0], dtype=float)) ** 2).sum(axis=(1, 2, 3))) == held_out[i][1]
        for i in range(20)
    ]
    assert all(hits)


def test_fake_and_patterns_splits_differ():
    for name in ("fake", "patterns"):
        train = load_dataset(name, train=True, size=8, augment=False)
        test = load_dataset(name, train=False, size=8)
        assert len(train) == len(test) == 8
        assert not torch.equal(train[0][0], test[0][0])


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        train_transform("mnist")


# ------------------------------------------------------------------ malformed files (checksums accepted)


def _cifar10_entry(n=4, **changes):
    entry = {"batch_label": "training batch 2 of 5", "labels": [k % 10 for k in range(n)]}
    entry.update(data=np.zeros((n, 3072), np.uint8), filenames=[f"img_{k}.png" for k in range(n)])
    entry.update(changes)
    return entry


def _write(path, obj):
    import pickle

    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


MALFORMED = {
    # case: (file, how it is broken, split that reads it, message fragment)
    "missing labels": (
        "data_batch_2",
        lambda p: _write(p, {"data": np.zeros((4, 3072), np.uint8)}),
        True,
        "missing 'labels'",
    ),
    "missing data": ("data_batch_2", lambda p: _write(p, {"labels": [1, 2]}), True, "missing 'data'"),
    "truncated pickle": (
        "data_batch_2",
        lambda p: p.write_bytes(p.read_bytes()[:200]),
        True,
        "not a readable pickle (UnpicklingError",
    ),
    "empty file": ("test_batch", lambda p: p.write_bytes(b""), False, "not a readable pickle (EOFError"),
    "not a dictionary": ("data_batch_5", lambda p: _write(p, [1, 2, 3]), True, "holds a list, not a dictionary"),
    "label out of range": (
        "data_batch_2",
        lambda p: _write(p, _cifar10_entry(labels=[0, 1, 12, 3])),
        True,
        "label 12 at position 2 is outside 0..9",
    ),
    "negative label": (
        "test_batch",
        lambda p: _write(p, _cifar10_entry(6, labels=[0, 1, 2, 3, 4, -1])),
        False,
        "label -1 at position 5 is outside 0..9",
    ),
    "fewer labels than images": (
        "data_batch_1",
        lambda p: _write(p, _cifar10_entry(labels=[0, 1, 2])),
        True,
        "3 labels ('labels') for 4 images ('data')",
    ),
    "labels not integers": (
        "data_batch_1",
        lambda p: _write(p, _cifar10_entry(labels=["cat"] * 4)),
        True,
        "'labels' must be a list of integers",
    ),
    "wrong image size": (
        "data_batch_3",
        lambda p: _write(p, _cifar10_entry(data=np.zeros((4, 3071), np.uint8))),
        True,
        "'data' must be a uint8 array of shape (n, 3072); got a uint8 array of shape (4, 3071)",
    ),
    "float images": (
        "test_batch",
        lambda p: _write(p, _cifar10_entry(6, data=np.zeros((6, 3072)))),
        False,
        "got a float64 array of shape (6, 3072)",
    ),
    "class names": (
        "batches.meta",
        lambda p: _write(p, {"label_names": ["cat"]}),
        False,
        "must list 10 class names; got 1",
    ),
    "no class names": ("batches.meta", lambda p: _write(p, {"names": []}), True, "missing 'label_names'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_cifar10_files_are_named(tmp_path, monkeypatch, case):
    from parareal_toolkit.training import DatasetFormatError

    name, damage, train, fragment = MALFORMED[case]
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / name
    damage(path)
    accept_checksums(monkeypatch, tmp_path)  # the damaged file passes the md5 check
    with pytest.raises(DatasetFormatError) as info:
        load_dataset("cifar10", train=train, data_dir=tmp_path)
    message = str(info.value)
    assert f"CIFAR-10 file {str(path)!r} is malformed" in message and fragment in message
    assert isinstance(info.value, ValueError)


def test_malformed_cifar100_labels_are_named(tmp_path, monkeypatch):
    from parareal_toolkit.training import DatasetFormatError

    write_cifar100(tmp_path)
    path = tmp_path / "cifar-100-python" / "test"
    _write(path, {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [5, 100], "coarse_labels": [1, 1]})
    accept_checksums(monkeypatch, tmp_path)
    with pytest.raises(
        DatasetFormatError, match=r"CIFAR-100 file .*test' is malformed: label 100 at position 1 is outside 0..99"
    ):
        load_dataset("cifar100", train=False, data_dir=tmp_path)
    assert load_dataset("cifar100", train=True, data_dir=tmp_path)  # the training split is fine


def test_malformed_cifar_file_via_cli_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    _write(path, _cifar10_entry(labels=[0, 1, 2, 3, 4]))
    accept_checksums(monkeypatch, tmp_path)
    args = ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--depth", "11", "--epochs", "1"]
    code = main([*args, "--workers", "0", "--quiet", "--yes", "-o", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err and "5 labels ('labels') for 4 images" in err
