from dataclasses import dataclass, field

import pytest

from meshflow.train.config import ConfigError, DataConfig, LoopConfig, flat_dict, load_config, to_container


@dataclass
class RunConfig:
    name: str = "run"
    output_dir: str = "runs/run"
    data: DataConfig = field(default_factory=DataConfig)
    train: LoopConfig = field(default_factory=LoopConfig)


def test_defaults_yaml_and_overrides(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("name: tiny\ntrain:\n  max_steps: 50\n  batch_size: 2\n")
    cfg = load_config(RunConfig, str(y), ["data.root=/tmp/clips", "train.max_steps=7", "output_dir=runs/x"])
    assert isinstance(cfg, RunConfig) and isinstance(cfg.train, LoopConfig)
    assert (cfg.name, cfg.train.max_steps, cfg.train.batch_size, cfg.data.root, cfg.output_dir) == (
        "tiny", 7, 2, "/tmp/clips", "runs/x")
    assert cfg.data.frames == 16  # default kept


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'train\.max_stepz'"):
        load_config(RunConfig, None, ["train.max_stepz=3"])
    y = tmp_path / "bad.yaml"
    y.write_text("data:\n  rooot: x\n")
    with pytest.raises(ConfigError, match=r"config key 'data\.rooot' \(in .*bad\.yaml\)"):
        load_config(RunConfig, str(y))


def test_wrong_type_missing_file_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'train\.max_steps'"):
        load_config(RunConfig, None, ["train.max_steps=many"])
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(RunConfig, str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"key=value \(got train\.max_steps\)"):
        load_config(RunConfig, None, ["train.max_steps"])


def test_flat_dict():
    flat = flat_dict(to_container(RunConfig()))
    assert flat["train.max_steps"] == 100_000 and flat["data.root"] == "clips"
