"""Procedural motions: shapes, rest pose, geometry and captions (the adherence checks: tests/eval/test_checks.py)."""
import numpy as np
import pytest

from meshflow.data.motions import LABELS, make_motion, motion_phrases
from meshflow.data.shapes import icosphere


def ellipsoid(scale=(0.6, 2.0, 0.8), offset=(0.3, 1.0, 0.0)):
    v, f = icosphere(2)
    return (v * np.array(scale) + np.array(offset)).astype(np.float32), f


MESHES = {"upright": ellipsoid(), "long_z": ellipsoid((0.7, 0.5, 2.0), (0, 0, 0)),
          "long_x": ellipsoid((1.8, 0.7, 0.5), (0, 0, 0))}


def test_spin_keeps_distances_to_the_axis_and_captions_its_direction():
    v, f = MESHES["upright"]
    for seed in range(20):
        m = make_motion(v, f, "spin", rng=seed)
        if m.params["axis"] == 1:
            break
    c = (v.max(0) + v.min(0)) / 2
    r = np.linalg.norm((m.frames - c)[..., [0, 2]], axis=2)
    np.testing.assert_allclose(r, r[:1].repeat(16, 0), atol=1e-5)
    np.testing.assert_allclose(m.frames[..., 1], m.frames[:1, :, 1].repeat(16, 0), atol=1e-5)
    direction = "clockwise" if m.params["sign"] < 0 else "counterclockwise"
    assert direction in m.caption


def test_hop_moves_the_centroid_up_then_down():
    v, f = MESHES["upright"]
    m = make_motion(v, f, "hop", rng=1)
    h = m.frames[..., 1].mean(1) - v[:, 1].mean()
    k = int(np.argmax(h))
    assert 0 < k < 15 and h[k] > 0.1
    assert np.all(np.diff(h[: k + 1]) >= -1e-6) and np.all(np.diff(h[k:]) <= 1e-6)
    assert abs(h[-1]) < 0.05 * h[k]


def test_captions_reflect_parameters():
    v, f = MESHES["upright"]
    for seed in range(6):
        m = make_motion(v, f, "slide", rng=seed, name="cow")
        words = {(2, 1): "forward", (2, -1): "backward", (0, 1): "to the left", (0, -1): "to the right"}
        assert m.caption.startswith("a cow ") and words[(m.params["axis"], m.params["sign"])] in m.caption
    captions = {make_motion(v, f, "spin", rng=s).caption for s in range(12)}
    assert len(captions) > 3  # several phrasings
    assert make_motion(v, f, rng=0).label in LABELS  # label drawn at random


def test_bad_arguments():
    v, f = MESHES["long_x"]
    with pytest.raises(ValueError, match="Unknown motion label 'dance'"):
        make_motion(v, f, "dance")
    with pytest.raises(ValueError, match=r"Expected 'vertices' to have shape \(N, 3\)"):
        make_motion(np.zeros((4, 2)))


def test_motion_phrases_hold_every_caption_phrasing():
    """Captions of motions drawn past the phrases' own draws (other seeds, another mesh, a name) all end in a
    phrase of motion_phrases (the prompt vocabulary's procedural part)."""
    from meshflow.models.text.vocabulary import split_subject

    phrases = set(motion_phrases())
    assert len(phrases) > 50 and all(p == p.strip() and not p.lower().startswith(("the ", "a ")) for p in phrases)
    v, f = MESHES["long_x"]
    for seed in range(5000, 5000 + 20 * len(LABELS)):
        caption = make_motion(v, f, rng=seed, frames=4, name="horse").caption
        subject, phrase = split_subject(caption)
        assert subject == "a horse" and phrase in phrases, caption
    assert set(motion_phrases(["spin"], draws=200)) <= phrases
