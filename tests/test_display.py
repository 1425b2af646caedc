"""aiffel_lib.display: the one image grid every plotter draws with, and the widget display."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from aiffel_lib.display import WidgetView, image_grid  # noqa: E402


def shown(ax) -> np.ndarray | None:
    images = ax.get_images()
    return None if not images else np.asarray(images[0].get_array())


def test_grid_is_filled_row_by_row_with_every_cell_present():
    import matplotlib.pyplot as plt

    imgs = [np.full((4, 5, 3), v, np.uint8) for v in (10, 20, 30, 40, 50)]
    fig = image_grid(imgs, list("abcde"), cols=3, size=(1.5, 2.0))
    try:
        # 2 rows of 3 cells, all present (the empty one has no image), 1.5 x 2.0 inches each
        assert len(fig.axes) == 6
        np.testing.assert_allclose(fig.get_size_inches(), (4.5, 4.0))
        for ax, img, title in zip(fig.axes, imgs, "abcde"):
            np.testing.assert_array_equal(shown(ax), img)
            assert ax.get_title() == title and not ax.axison
        assert shown(fig.axes[5]) is None and not fig.axes[5].axison
    finally:
        plt.close(fig)


def test_none_leaves_a_cell_empty_and_gray_images_take_the_colour_map():
    import matplotlib.pyplot as plt

    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    fig = image_grid([None, gray], ["skipped", "gray"], cols=2, cmap="gray", vmin=0, vmax=255)
    try:
        assert shown(fig.axes[0]) is None and fig.axes[0].get_title() == ""
        image = fig.axes[1].get_images()[0]
        assert image.get_array().shape == (3, 4)  # (H, W, 1) squeezed
        assert image.get_cmap().name == "gray" and image.get_clim() == (0, 255)
    finally:
        plt.close(fig)


def test_row_labels_get_their_own_margin():
    import matplotlib.pyplot as plt

    cells = [np.zeros((2, 2, 3), np.uint8)] * 4
    fig = image_grid(cells, cols=2, size=1.0, row_labels=["first", "second"], label_width=1.5)
    try:
        np.testing.assert_allclose(fig.get_size_inches(), (3.5, 2.0))
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert texts == ["first", "second"]
    finally:
        plt.close(fig)


def test_mismatched_titles_and_labels_are_refused():
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        image_grid([np.zeros((2, 2))] * 3, ["a", "b"])
    with pytest.raises(ValueError, match="1 row labels for 2 rows"):
        image_grid([np.zeros((2, 2))] * 4, cols=2, row_labels=["only one"])
    with pytest.raises(ValueError, match="cols must be >= 1"):
        image_grid([np.zeros((2, 2))], cols=0)


class FakeWidget:
    def __init__(self, answer):
        self.answer = answer

    def _repr_mimebundle_(self, **kwargs):
        return self.answer


class Panel(WidgetView):
    def __init__(self, answer):
        self.widget = FakeWidget(answer)

    def __repr__(self):
        return "Panel(3 sliders)"


@pytest.mark.parametrize("answer", [
    {"text/plain": "VBox(children=(... 40 KB of PNG ...))", "application/vnd.jupyter.widget-view+json": {"id": 1}},
    ({"text/plain": "old ipywidgets", "application/vnd.jupyter.widget-view+json": {"id": 2}}, {}),
])
def test_widget_view_shows_the_widget_with_a_short_text_form(answer):
    bundle = Panel(answer)._repr_mimebundle_()
    assert bundle["text/plain"] == "Panel(3 sliders)"
    assert "application/vnd.jupyter.widget-view+json" in bundle
