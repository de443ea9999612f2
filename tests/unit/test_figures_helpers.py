"""The shared figure helpers of ``trustlab.report.figures``: ``new_figure``, ``save_image``, ``image_grid``."""

import numpy as np
from PIL import Image

from trustlab.report.figures import image_grid, new_figure, save_png


def test_image_grid_places_each_tile_in_its_cell(tmp_path):
    tiles = np.stack([np.full((3, 4), 10 * (k + 1), np.uint8) for k in range(5)])  # grey, 3x4, values 10..50
    out = image_grid(tiles, tmp_path / "g.png", cols=2, scale=2, border=1)
    a = np.asarray(Image.open(out))
    assert a.shape == (3 * (3 + 2) * 2, 2 * (4 + 2) * 2)  # 3 rows (5 tiles / 2 cols), 2 cols, border 1, scale 2
    cell_h, cell_w = 10, 12
    for k in range(5):
        r, c = divmod(k, 2)
        y, x = r * cell_h + 2, c * cell_w + 2
        assert (a[y:y + 6, x:x + 8] == 10 * (k + 1)).all()
        assert (a[r * cell_h, c * cell_w:(c + 1) * cell_w] == 255).all()  # white border row above the tile
    assert (a[2 * cell_h:, cell_w:] == 255).all()  # the empty sixth cell


def test_image_grid_fixed_rows_title_and_rgb(tmp_path):
    tiles = np.zeros((9, 5, 5, 3), np.uint8)
    out = image_grid(tiles, tmp_path / "t.png", cols=4, rows=2, title="x", title_height=14)
    a = np.asarray(Image.open(out))
    assert a.shape == (14 + 2 * 5, 4 * 5, 3)  # the ninth image does not fit and is left out
    assert (a[14:] == 0).all() and (a[:14] < 255).any()  # tiles below a title band with text in it
    empty = np.asarray(Image.open(image_grid([], tmp_path / "e.png", cols=2, rows=1, tile_shape=(3, 3))))
    assert empty.shape == (3, 6, 3) and (empty == 255).all()


def test_new_figure_saves_a_png(tmp_path):
    fig = new_figure(2.0, 1.5)
    fig.subplots().plot([0, 1], [1, 0])
    out = save_png(fig, tmp_path / "f.png")
    assert Image.open(out).size == (220, 165)  # inches x DPI (110)
