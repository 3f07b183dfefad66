"""training.ml.transfer_policy: probe only on few or low-resolution images, fine-tune when there are enough, the
backbone's native input size always, and the researcher's explicit choice honoured."""

from __future__ import annotations

import pytest

from training.ml.transfer_policy import FEW_PER_CLASS, LOW_RESOLUTION, transfer_choose


def choose(**kw):
    args = {"requested": "auto", "native_size": 224, "requested_epochs": 3, "images_per_class": 500,
            "median_side": 256} | kw  # fmt: skip
    return transfer_choose(**args)


def test_few_images_per_class_probe_only_at_native_size():
    c = choose(images_per_class=FEW_PER_CLASS - 1, median_side=500)
    assert (c.mode, c.why, c.fine_tune_epochs, c.image_size) == ("probe", "few_images", 0, 224)


def test_low_resolution_probe_only_even_with_many_images():
    c = choose(images_per_class=5000, median_side=LOW_RESOLUTION - 32)
    assert (c.mode, c.why, c.fine_tune_epochs, c.image_size) == ("probe", "low_resolution", 0, 224)


def test_enough_data_fine_tunes_the_requested_epochs():
    c = choose(images_per_class=FEW_PER_CLASS, median_side=LOW_RESOLUTION)
    assert (c.mode, c.why, c.fine_tune_epochs) == ("fine_tune", "enough_data", 3)
    assert choose(requested_epochs=0).mode == "probe" and choose(requested_epochs=0).why == "no_epochs"


def test_the_researchers_choice_wins_and_bad_modes_are_refused():
    assert choose(requested="fine_tune", images_per_class=3, median_side=32).fine_tune_epochs == 3
    assert choose(requested="fine_tune", requested_epochs=0).fine_tune_epochs == 1
    assert choose(requested="probe").fine_tune_epochs == 0 and choose(requested="probe").why == "researcher"
    with pytest.raises(ValueError):
        choose(requested="sometimes")
