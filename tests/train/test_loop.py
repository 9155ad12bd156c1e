"""The generic training loop on a toy regression task: checkpoints, resume, export."""
from dataclasses import dataclass, field

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from meshflow.train.config import LoopConfig, OptimConfig
from meshflow.train.loop import Task, list_checkpoints, train, warmup_cosine


@dataclass
class ToyConfig:
    name: str = "toy"
    output_dir: str = "runs/toy"
    train: LoopConfig = field(default_factory=lambda: LoopConfig(
        max_steps=12, batch_size=4, log_every=1, val_every=6, save_every=3, keep_last=2, cpu=True))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.2, warmup_steps=2))


class ToyTask(Task):
    def __init__(self, cfg):
        self.cfg = cfg
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(40, 3, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(40, 1, generator=g)

    def build_model(self):
        torch.manual_seed(0)
        return torch.nn.Linear(3, 1)

    def dataloaders(self):
        ds = TensorDataset(self.x, self.y)
        return DataLoader(ds, batch_size=self.cfg.train.batch_size, shuffle=True), DataLoader(ds, batch_size=40)

    def loss(self, model, batch):
        x, y = batch
        loss = torch.nn.functional.mse_loss(model(x), y)
        return loss, {"mse": loss.item()}

    @torch.no_grad()
    def validate(self, model, loader):
        x, y = next(iter(loader))
        return {"mse": torch.nn.functional.mse_loss(model(x), y).item()}

    def export(self, model, directory):
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), directory / "w.pt")
        return directory


def run(tmp_path, name, max_steps, resume=None, stop_at=None):
    cfg = ToyConfig(output_dir=str(tmp_path / name))
    cfg.train.max_steps = max_steps
    return train(ToyTask(cfg), resume=resume, progress=False, stop_at=stop_at)


def weights(tmp_path, name):
    return torch.load(tmp_path / name / "model" / "w.pt")


def test_warmup_cosine():
    assert warmup_cosine(0, 4, 100) == pytest.approx(0.25)
    assert warmup_cosine(3, 4, 100) == pytest.approx(1.0)
    assert warmup_cosine(100, 4, 100) == pytest.approx(0.0)
    assert warmup_cosine(52, 4, 100, min_ratio=0.1) == pytest.approx(0.1 + 0.9 * 0.5)


def test_checkpoints_are_kept_and_named(tmp_path):
    task = ToyTask(ToyConfig())
    initial = torch.nn.functional.mse_loss(task.build_model()(task.x), task.y).item()
    out = run(tmp_path, "a", 12)
    assert out["step"] == 12 and out["val"]["mse"] < 0.5 * initial
    names = [p.name for p in list_checkpoints(tmp_path / "a")]
    assert names == ["step_0000009", "step_0000012"]  # keep_last = 2
    assert not list((tmp_path / "a" / "checkpoints").glob(".tmp*"))
    assert list((tmp_path / "a" / "logs").rglob("events.out.tfevents*"))


def test_resume_equals_straight_run(tmp_path):
    run(tmp_path, "straight", 12)
    # stop after 7 steps (mid-epoch: 10 batches per epoch), then continue to 12 from the latest checkpoint
    stopped = run(tmp_path, "split", 12, stop_at=7)
    assert stopped["step"] == 7 and stopped["export"] is None
    assert [p.name for p in list_checkpoints(tmp_path / "split")] == ["step_0000006", "step_0000007"]
    out = run(tmp_path, "split", 12, resume=True)
    assert out["step"] == 12
    a, b = weights(tmp_path, "straight"), weights(tmp_path, "split")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7)


def test_resume_from_explicit_path_and_missing_path(tmp_path):
    run(tmp_path, "p", 6)
    ckpt = list_checkpoints(tmp_path / "p")[0]  # step 3
    out = run(tmp_path, "p", 6, resume=str(ckpt))
    assert out["step"] == 6
    from meshflow.errors import MeshflowError
    with pytest.raises(MeshflowError, match="checkpoint directory not found"):
        run(tmp_path, "p", 6, resume=str(tmp_path / "nowhere"))


def test_load_initial_weights(tmp_path):
    """init_from=DIR copies a model directory's weights; another architecture is refused by name."""
    from meshflow.errors import MeshflowError
    from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig, save_vae
    from meshflow.train.loop import load_initial_weights

    small = dict(enc_depth=1, dec_depth=1, dim=32, output_dim=24, latent_dim=8, heads=2, dim_head=16, T=8,
                 num_traj=16, n_layers=1)
    torch.manual_seed(0)
    trained = DyMeshVAE(DyMeshVAEConfig(**small))
    save_vae(trained, tmp_path / "model")
    fresh = DyMeshVAE(DyMeshVAEConfig(**small))
    assert any(not torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values()))
    load_initial_weights(fresh, tmp_path / "model", "vae")
    for k, v in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    with pytest.raises(MeshflowError, match=r"init_from .*model \(vae\): expected .* of shape"):
        load_initial_weights(DyMeshVAE(DyMeshVAEConfig(**{**small, "dim": 48, "dim_head": 24})), tmp_path / "model", "vae")
