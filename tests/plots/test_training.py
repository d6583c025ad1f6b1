"""Training figures built from arrays: panels, what they plot, and non-blank pixels."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from cbir.plots import plt, save_figure
from cbir.plots.training import augmentation_figure, confusion_matrix_figure, learning_curve_figure

CLASSES = ["animal", "human", "airplane", "truck", "car"]


def history(metric: str, epochs: int = 4) -> dict[str, np.ndarray]:
    e = np.arange(1, epochs + 1, dtype=float)
    return {
        "epoch": e,
        "train_loss": 1.0 / e,
        f"train_{metric}": 0.5 + 0.1 * e,
        "heldout_loss": 1.2 / e,
        f"heldout_{metric}": 0.4 + 0.1 * e,
        "lr": np.where(e <= 2, 1e-3, 5e-4),
        "seconds": np.full(epochs, 2.0),
        "images_per_s": np.array([100.0, 110, 120, 130])[:epochs],
    }


def cell_std(path, rows: int, columns: int) -> np.ndarray:
    """Pixel standard deviation of each cell of a rows x columns grid over the PNG."""
    image = imread(path)[..., :3].mean(-1)
    h, w = image.shape
    return np.array(
        [
            [image[r * h // rows : (r + 1) * h // rows, c * w // columns : (c + 1) * w // columns].std()
             for c in range(columns)]
            for r in range(rows)
        ]
    )  # fmt: skip


def test_learning_curve_of_a_classifier(tmp_path):
    fig = learning_curve_figure(history("acc"), "classifier")
    loss, metric, lr = fig.axes
    assert len(fig.axes) == 3  # loss, accuracy and the learning-rate twin
    assert loss.get_ylabel() == "cross-entropy" and metric.get_ylabel() == "accuracy (%)"
    np.testing.assert_allclose(metric.lines[0].get_ydata(), 100 * (0.5 + 0.1 * np.arange(1, 5)))  # percent
    np.testing.assert_allclose(loss.lines[1].get_ydata(), 1.2 / np.arange(1, 5))
    assert lr.get_ylim() == pytest.approx((0, 1.1e-3))
    assert fig._suptitle.get_text() == "classifier: 4 epochs, 8 s, median 115 training images/s"
    save_figure(fig, tmp_path / "lc.png")
    assert (cell_std(tmp_path / "lc.png", 1, 2) > 0.05).all()


def test_learning_curve_of_an_enhancer():
    fig = learning_curve_figure(history("psnr", 3), "upscaler")
    loss, metric, _ = fig.axes
    assert loss.get_ylabel() == "MSE on [-1, 1]" and metric.get_ylabel() == "PSNR (dB)"
    np.testing.assert_allclose(metric.lines[1].get_ydata(), 0.4 + 0.1 * np.arange(1, 4))  # dB as given
    plt.close(fig)


def test_augmentation_figure(tmp_path):
    rng = np.random.default_rng(0)
    originals = rng.uniform(0, 1, (3, 16, 16))
    augmented = rng.uniform(0, 1, (3, 4, 16, 16))
    fig = augmentation_figure(originals, augmented, ["animal", "human", "car"])
    assert len(fig.axes) == 3 * 5
    assert [ax.get_title() for ax in fig.axes[:5]] == ["original"] + [f"augmented {j}" for j in range(1, 5)]
    assert [fig.axes[5 * i].get_ylabel() for i in range(3)] == ["animal", "human", "car"]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), originals[0])
    np.testing.assert_array_equal(fig.axes[5 * 2 + 3].images[0].get_array(), augmented[2, 2])
    save_figure(fig, tmp_path / "aug.png")
    assert (cell_std(tmp_path / "aug.png", 3, 5) > 0.1).all()  # every panel shows a textured image


def test_confusion_matrix_figure(tmp_path):
    matrix = np.array([[8, 2, 0, 0, 0], [0, 10, 0, 0, 0], [1, 0, 9, 0, 0], [0, 0, 0, 5, 5], [0, 0, 0, 0, 0]])
    fig = confusion_matrix_figure(matrix, CLASSES, "resnet18: test accuracy 80.0%")
    ax, colorbar = fig.axes
    assert ax.get_title() == "resnet18: test accuracy 80.0%"
    rates = ax.images[0].get_array()
    np.testing.assert_allclose(rates[0], [0.8, 0.2, 0, 0, 0])
    np.testing.assert_allclose(rates[4], 0)  # a class without test images: no division by zero
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 25 and texts[0] == "80%\n8" and texts[1] == "20%\n2"
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert colorbar.get_ylabel() == "share of the true class"
    save_figure(fig, tmp_path / "cm.png")
    image = imread(tmp_path / "cm.png")
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert (cell_std(tmp_path / "cm.png", 2, 2) > 0.05).all()


@pytest.mark.parametrize("n", [2, 7, 20])
def test_confusion_matrix_of_any_number_of_classes(tmp_path, n):
    """C x C cells, every one with its rate and count, named by class; larger C: a larger figure
    and smaller cell texts, so that 20 classes stay readable."""
    rng = np.random.default_rng(n)
    matrix = rng.integers(0, 9, (n, n)) + np.diag(rng.integers(10, 40, n))
    names = [f"class number {c}" for c in range(n)]
    fig = confusion_matrix_figure(matrix, names, "t")
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (n, n)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == n * n and texts[n + 1] == f"{matrix[1, 1] / matrix[1].sum():.0%}\n{matrix[1, 1]}"
    assert [t.get_text() for t in ax.get_xticklabels()] == names == [t.get_text() for t in ax.get_yticklabels()]
    width, height = fig.get_size_inches()
    assert width >= 5.2 + 0.5 * max(0, n - 5) - 1e-9 and height >= 4.6 + 0.5 * max(0, n - 5) - 1e-9
    assert max(t.get_fontsize() for t in ax.texts) <= (8 if n <= 8 else 6)
    if n > 6:
        assert ax.get_xticklabels()[0].get_rotation() == 60
    save_figure(fig, tmp_path / "cm.png")
    image = imread(tmp_path / "cm.png")[..., :3].mean(-1)
    assert (cell_std(tmp_path / "cm.png", 2, 2) > 0.05).all()
    assert image.shape[0] > 300 + 30 * max(0, n - 5)  # grows with the classes
    with pytest.raises(ValueError, match=f"for {n + 1} classes"):
        confusion_matrix_figure(matrix, [*names, "extra"], "t")
