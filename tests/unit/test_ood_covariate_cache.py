"""The covariate set is corrupted once per (images, severity, seed) and read back from the data cache."""

from __future__ import annotations

import numpy as np
import pytest

from trustlab.methods.ood import data as D


def test_corrupted_set_is_cached_and_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTLAB_DATA", str(tmp_path))
    x = np.random.default_rng(0).integers(0, 255, (len(D.COVARIATE), 32, 32), dtype=np.uint8)
    a, kinds = D.corrupt(x, 2, seed=3)
    assert len(list((tmp_path / D.NAME / D.VERSION / "covariate").glob("*.npz"))) == 1

    import imagecorruptions

    def refuse(*args, **kw):
        raise AssertionError("corrupted again instead of reading the cache")

    monkeypatch.setattr(imagecorruptions, "corrupt", refuse)
    b, kinds_b = D.corrupt(x, 2, seed=3)
    assert np.array_equal(a, b) and kinds == kinds_b == list(D.COVARIATE)
    with pytest.raises(AssertionError, match="corrupted again"):  # other settings are a different entry
        D.corrupt(x, 3, seed=3)
    with pytest.raises(AssertionError, match="corrupted again"):
        D.corrupt(x, 2, seed=3, cache=False)
