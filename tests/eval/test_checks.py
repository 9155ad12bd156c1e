"""Motion adherence checks: every label's procedural motion passes its own check, and the checks tell labels apart."""
import numpy as np
import pytest

from meshflow.data.motions import LABELS, make_motion
from meshflow.data.shapes import icosphere
from meshflow.eval.checks import check_motion, motion_scores


def ellipsoid(scale=(0.6, 2.0, 0.8), offset=(0.3, 1.0, 0.0)):
    v, f = icosphere(2)
    return (v * np.array(scale) + np.array(offset)).astype(np.float32), f


MESHES = {"upright": ellipsoid(), "long_z": ellipsoid((0.7, 0.5, 2.0), (0, 0, 0)),
          "long_x": ellipsoid((1.8, 0.7, 0.5), (0, 0, 0))}


@pytest.mark.parametrize("label", LABELS)
def test_each_label_passes_its_own_check(label):
    for name, (v, f) in MESHES.items():
        for seed in range(3):
            m = make_motion(v, f, label, rng=seed)
            assert m.label == label and m.frames.shape == (16, len(v), 3) and m.frames.dtype == np.float32
            np.testing.assert_array_equal(m.frames[0], v)
            result = check_motion(label, m.frames)
            assert result, f"{name} seed {seed}: {m.caption}: {result.info['criteria']}"
            assert 0.5 <= result.score <= 1.0


def test_checks_tell_labels_apart():
    v, f = MESHES["upright"]
    confusions = []
    for label in LABELS:
        m = make_motion(v, f, label, rng=7, frames=24)
        passing = {k for k, r in motion_scores(m.frames).items() if r}
        assert label in passing
        confusions += [(label, other) for other in passing - {label}]
    assert not confusions


def test_spin_check_reports_the_caption_direction():
    v, f = MESHES["upright"]
    for seed in range(20):
        m = make_motion(v, f, "spin", rng=seed)
        if m.params["axis"] == 1:
            break
    direction = "clockwise" if m.params["sign"] < 0 else "counterclockwise"
    assert direction in m.caption
    assert check_motion("spin", m.frames).info["direction"] == direction


def test_a_hop_is_not_a_spin_and_a_still_mesh_is_not_a_hop():
    v, f = MESHES["upright"]
    m = make_motion(v, f, "hop", rng=1)
    # lifted rigidly: not a spin, and a mesh that stays put is not a hop
    assert not check_motion("spin", m.frames)
    assert not check_motion("hop", np.repeat(v[None], 16, axis=0))


def test_twist_rotates_sections_by_an_angle_growing_along_the_axis():
    v, f = MESHES["upright"]
    m = make_motion(v, f, "twist", rng=3)
    result = check_motion("twist", m.frames)
    assert result
    angles = np.array(result.info["angles_deg"])
    steps = np.diff(angles) * np.sign(angles[-1] - angles[0])
    assert np.all(steps > 0) and abs(angles[-1] - angles[0]) > 20
    # a rigid spin about the same axis turns every section alike: no twist
    spin = make_motion(v, f, "spin", rng=0)
    assert not check_motion("twist", spin.frames)


def test_slide_and_bend_checks_report_the_caption_direction():
    v, f = MESHES["upright"]
    for seed in range(6):
        m = make_motion(v, f, "slide", rng=seed, name="cow")
        words = {(2, 1): "forward", (2, -1): "backward", (0, 1): "to the left", (0, -1): "to the right"}
        assert check_motion("slide", m.frames).info["direction"] == words[(m.params["axis"], m.params["sign"])]
        b = make_motion(v, f, "bend", rng=seed)
        side = check_motion("bend", b.frames).info["direction"]
        assert side in b.caption or b.params["axis"] == 1  # arches / droops when bending up or down


def test_32_frames_and_bad_arguments():
    v, f = MESHES["long_x"]
    for label in ("wave", "bounce", "wag"):
        assert check_motion(label, make_motion(v, f, label, rng=2, frames=32).frames)
    with pytest.raises(ValueError, match="Unknown motion label 'dance'"):
        check_motion("dance", np.zeros((4, 5, 3)))
