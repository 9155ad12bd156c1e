"""`meshflow reconstruct` on the golden DyMeshVAE: output, error in normalised units, errors."""
import json
import re

import numpy as np
import pytest
import torch

from meshflow.commands.main import main
from meshflow.eval.vae import reconstruct
from meshflow.models.dymesh_vae import load_original_vae, load_vae, save_vae

GOLDEN = ("golden", "animateanymesh")


@pytest.fixture
def checkpoint(shared, tmp_path):
    config = json.loads(shared(*GOLDEN, "training_config.json").read_text())["vae_config"]
    state = torch.load(shared(*GOLDEN, "official_vae_state_dict.pt"), map_location="cpu", weights_only=True)
    return save_vae(load_original_vae(state, config), tmp_path / "model")


@pytest.fixture
def animation(shared, tmp_path):
    case = np.load(shared(*GOLDEN, "vae_case_icosphere.npz"))
    vertices = case["vertices"].astype(np.float32) * 5.0 + np.float32([1.0, -2.0, 3.0])  # file units
    path = tmp_path / "anim.npz"
    np.savez(path, vertices=vertices, faces=case["faces"])
    return path, vertices, case["faces"]


def test_reconstruct_command(checkpoint, animation, tmp_path, capsys):
    path, vertices, faces = animation
    out = tmp_path / "recon.npz"
    assert main(["reconstruct", "--checkpoint", str(checkpoint), "--input", str(path),
                 "--output", str(out), "--tokens", "40"]) == 0
    printed = capsys.readouterr().out
    error = float(re.search(r"mean per-vertex error: (\S+) \(normalised units; 162 vertices, 16 frames, 40 tokens",
                            printed).group(1))
    result = np.load(out)
    assert result["vertices"].shape == vertices.shape and np.array_equal(result["faces"], faces)

    model = load_vae(checkpoint)
    expected, expected_error, K = reconstruct(model, vertices, faces, num_tokens=40)
    assert K == 40
    np.testing.assert_allclose(result["vertices"], expected, rtol=1e-5, atol=1e-5)
    assert error == pytest.approx(expected_error, rel=1e-4)
    # the error is measured in normalised units: the same motion at another scale gives the same number
    _, scaled_error, _ = reconstruct(model, vertices * 3.0, faces, num_tokens=40)
    assert scaled_error == pytest.approx(expected_error, rel=1e-3)
    # in file units, the reconstruction lies where the input lies
    file_error = np.linalg.norm(result["vertices"] - vertices, axis=-1).mean()
    assert file_error == pytest.approx(expected_error * 5.0, rel=1e-3)


def test_reconstruct_matches_the_model_round_trip(checkpoint, animation):
    _, vertices, faces = animation
    model = load_vae(checkpoint)
    recon, error, K = reconstruct(model, vertices, faces)
    assert K == 32  # max(num_traj = 32, 162 // 8)
    normalised = (vertices - (vertices[0].max(0) + vertices[0].min(0)) / 2)
    normalised /= np.abs(normalised[0]).max()
    back = (recon - (vertices[0].max(0) + vertices[0].min(0)) / 2) / np.abs(
        vertices[0] - (vertices[0].max(0) + vertices[0].min(0)) / 2).max()
    assert np.linalg.norm(back - normalised, axis=-1).mean() == pytest.approx(error, rel=1e-3)
    # a posterior sample: seeded, reproducible, and not the mean's reconstruction
    import torch

    draws = [reconstruct(model, vertices, faces, sample_posterior=True, generator=torch.Generator().manual_seed(5))
             for _ in range(2)]
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    assert not np.allclose(draws[0][0], recon)


def test_reconstruct_command_errors(checkpoint, animation, tmp_path, capsys):
    path, vertices, faces = animation
    short = tmp_path / "short.npz"
    np.savez(short, vertices=vertices[:8], faces=faces)
    assert main(["reconstruct", "--checkpoint", str(checkpoint), "--input", str(short),
                 "--output", str(tmp_path / "o.npz")]) == 2
    assert "expected 16 frames for this model (got 8)" in capsys.readouterr().err
    assert main(["reconstruct", "--checkpoint", str(tmp_path / "nowhere"), "--input", str(path),
                 "--output", str(tmp_path / "o.npz")]) == 2
    assert "model directory not found" in capsys.readouterr().err
    assert main(["reconstruct", "--checkpoint", str(checkpoint), "--input", str(path),
                 "--output", str(tmp_path / "o.npz"), "--tokens", "0"]) == 2
    assert "Expected 'tokens' to be an integer of at least 1 (got 0)" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["reconstruct", "--checkpoint", str(checkpoint), "--input", str(path),
                     "--output", str(tmp_path / "o.npz"), "--device", "cuda"]) == 2
        assert capsys.readouterr().err.strip() == ("meshflow reconstruct: error: Expected a CUDA GPU for device "
                                                   "'cuda' (got none: no CUDA GPU is available here; use 'cpu' or "
                                                   "'auto')")


def test_reconstruct_with_the_shape_refinement(checkpoint, animation):
    """rigidity=r is refine_shape on the welded, normalised round trip (what the pipeline does after decoding)."""
    from meshflow.data.graph import mesh_graph
    from meshflow.data.rigidity import refine_shape
    from meshflow.io.geometry import edge_length_change

    _, vertices, faces = animation
    model = load_vae(checkpoint)
    plain, error, _ = reconstruct(model, vertices, faces)
    refined, refined_error, _ = reconstruct(model, vertices, faces, rigidity=0.05)
    g = mesh_graph(vertices[0], faces)
    assert g.num_nodes == len(vertices[0])  # nothing welded here: file vertex i is graph vertex i
    center, scale = g.center.numpy(), float(g.scale)
    traj = torch.from_numpy(((plain - center) / scale).transpose(1, 0, 2).copy())
    expected = refine_shape(g.pos, traj, g.edge_index, 0.05).numpy().transpose(1, 0, 2) * scale + center
    np.testing.assert_allclose(refined, expected, atol=1e-4)
    assert edge_length_change(refined, faces) < edge_length_change(plain, faces)
    assert refined_error != error  # the error is that of what is returned
