"""Hub model ids (meshflow.models.remote) against a fake Hugging Face cache, offline.

The fake cache is laid out as huggingface_hub lays it out (``models--owner--name/refs/main``,
``snapshots/COMMIT/...`` symlinks into ``blobs/``). The original-layout files are tiny: the golden
DyMeshVAE checkpoint and factors, and a tiny MMDiT with a tiny Hugging Face CLIP text model inside
``rf_epoch_f.pth``, as tests/models/test_convert.py builds it.
"""
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

import huggingface_hub.constants as hf_constants
from meshflow.cache import CACHE_ENV
from meshflow.commands.main import main
from meshflow.data.shapes import icosphere
from meshflow.errors import CheckpointError, MeshflowError
from meshflow.models import remote
from meshflow.models.convert import convert_original
from meshflow.models.remote import ModelId, OriginalLayout, cached_models, resolve_model
from meshflow.pipeline import AnimationPipeline
from tests.conftest import load_script
from tests.models.test_convert import counting_reads, files_of, tiny_original_rf

transformers = pytest.importorskip("transformers")

REPO = "JarrentWu/AnimateAnyMesh"
COMMIT = "a" * 40
COMMIT_V1 = "b" * 40
RF_CONFIG = {"input_channels": 16, "output_channels": 16, "width": 32, "layers": 1, "heads": 2,
             "init_scale": 0.25, "use_flash2": True, "cond_drop_prob": 0.1}


def golden(shared, name) -> Path:
    return Path(shared("golden", "animateanymesh", name))


def tiny_rf_bytes(seed: int) -> bytes:
    """An original rf_epoch_*.pth (test_convert's tiny construction), as bytes."""
    buffer = io.BytesIO()
    torch.save(tiny_original_rf(transformers, seed)[2], buffer)
    return buffer.getvalue()


_RF = {}


def original_files(shared, seed: int = 0, vae_exp: str = "dvae") -> dict:
    """The files of an original release snapshot, relative path -> bytes (tiny golden sizes)."""
    if seed not in _RF:
        _RF[seed] = tiny_rf_bytes(seed)
    vae_config = json.loads(golden(shared, "training_config.json").read_text())["vae_config"]
    config = {"vae_config": vae_config, "rf_config": RF_CONFIG,
              "training_args": {"vae_exp_dependency": vae_exp, "vae_epoch_dependency": "f"}}
    layout = OriginalLayout(vae_exp=vae_exp)
    return {layout.config: json.dumps(config, indent=4).encode(), layout.rf: _RF[seed],
            layout.vae: golden(shared, "official_vae_state_dict.pt").read_bytes(),
            layout.vae_config: json.dumps(vae_config).encode(),
            layout.factors: golden(shared, "tiny_dvae_f.json").read_bytes(),
            "README.md": b"# AnimateAnyMesh\n"}


# the fake Hugging Face cache writer (blobs, snapshot symlinks, refs), shared with the paper-size benchmark
write_hub_snapshot = load_script("bench_paper_size").write_hub_snapshot


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty fake Hugging Face cache with HF_HUB_OFFLINE on, and an empty meshflow cache."""
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads its environment once, at import: set what it read
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "meshflow-cache"))
    return cache


@pytest.fixture
def ball(tmp_path):
    v, f = icosphere(1)
    path = tmp_path / "ball.obj"
    trimesh.Trimesh(v, f, process=False).export(path)
    return path


def test_model_id_parsing():
    assert ModelId.parse("JarrentWu/AnimateAnyMesh") == ModelId("JarrentWu/AnimateAnyMesh", None)
    assert ModelId.parse("a/b@v1.0") == ModelId("a/b", "v1.0") and str(ModelId("a/b", "v1.0")) == "a/b@v1.0"
    assert ModelId.parse(f"a/b@{COMMIT}").revision == COMMIT
    for bad in ("a", "a/b/c", "/a/b", "./a", "a/b@", "a/../b", "~x/y"):
        assert not remote.is_model_id(bad)
        with pytest.raises(MeshflowError, match=r"Expected a Hugging Face model id 'owner/name'.*\(got "):
            ModelId.parse(bad)


def test_local_paths_win(tmp_path, monkeypatch, hub):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "tiny").mkdir(parents=True)  # a relative path that reads like an id
    assert resolve_model("runs/tiny") == remote.ResolvedModel(Path("runs/tiny"))
    assert resolve_model(tmp_path).path == tmp_path and resolve_model(tmp_path).describe() == str(tmp_path)


def test_original_snapshot_converted_once(shared, hub):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    first = resolve_model(REPO)
    entry = Path(os.environ[CACHE_ENV]) / "hub" / "models--JarrentWu--AnimateAnyMesh" / COMMIT
    assert first.path == entry / "model" and first.layout == "original" and not first.cached
    assert sorted(p.name for p in entry.iterdir()) == ["entry.json", "model"]
    assert sorted(p.name for p in first.path.iterdir()) == ["config.json", "mmdit.safetensors",
                                                            "text_encoder.safetensors", "vae.safetensors"]
    marker = json.loads((entry / "entry.json").read_text())
    assert marker["repo"] == REPO and marker["commit"] == COMMIT and marker["source"]["vae"] == "dvae/dvae_f.pth"
    assert "converted now" in first.describe()
    stamp = (first.path / "mmdit.safetensors").stat().st_mtime_ns
    second = resolve_model(REPO)
    assert second.cached and second.path == first.path and "converted copy from the meshflow cache" in second.describe()
    assert (first.path / "mmdit.safetensors").stat().st_mtime_ns == stamp  # not converted again
    rows = cached_models()
    assert [(r.repo, r.commit, r.complete, r.revisions) for r in rows] == [(REPO, COMMIT, True, ("main",))]
    assert rows[0].size == sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())


def test_converted_cache_needs_no_hub(shared, hub):
    """Once converted, the Hugging Face download may go (a container keeps only the meshflow cache)."""
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    path = resolve_model(REPO).path
    shutil.rmtree(hub / "models--JarrentWu--AnimateAnyMesh")
    assert resolve_model(REPO).path == path and resolve_model(REPO).cached


def test_names_follow_training_args(shared, hub):
    """test_drive.py reads {vae_exp}/dvae_{vae_epoch}.pth and dvae_factors/{vae_exp}_{vae_epoch}.json."""
    write_hub_snapshot(hub, "me/tiny", COMMIT, original_files(shared, vae_exp="tiny_dvae"))
    resolved = resolve_model("me/tiny")
    assert json.loads((resolved.path.parent / "entry.json").read_text())["source"]["factors"] == \
        "dvae_factors/tiny_dvae_f.json"


def test_revisions(shared, hub):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared, seed=0))
    write_hub_snapshot(hub, REPO, COMMIT_V1, original_files(shared, seed=1), refs=("v1",))
    main_dir, v1_dir = resolve_model(REPO).path, resolve_model(f"{REPO}@v1").path
    assert main_dir.parent.name == COMMIT and v1_dir.parent.name == COMMIT_V1
    assert resolve_model(f"{REPO}@{COMMIT_V1}").path == v1_dir
    a = (main_dir / "mmdit.safetensors").read_bytes()
    assert a != (v1_dir / "mmdit.safetensors").read_bytes()
    assert sorted((r.commit, r.revisions) for r in cached_models(REPO)) == [(COMMIT, ("main",)), (COMMIT_V1, ("v1",))]
    with pytest.raises(MeshflowError, match=rf"^{REPO}@v2: not in the Hugging Face cache .* HF_HUB_OFFLINE is set: "
                                            rf"run `meshflow models pull {REPO}@v2`.*convert-original"):
        resolve_model(f"{REPO}@v2")


def test_meshflow_snapshot_used_in_place(shared, hub, tmp_path):
    files = original_files(shared)
    local = tmp_path / "local"
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    model = AnimationPipeline.from_pretrained(resolve_model_via_convert(local, tmp_path / "converted"))
    model.save_pretrained(tmp_path / "mf", metrics={"edge_change": 0.01})
    snapshot = write_hub_snapshot(hub, "me/mf", COMMIT, {p.name: p.read_bytes() for p in (tmp_path / "mf").iterdir()})
    resolved = resolve_model("me/mf")
    assert resolved.path == snapshot and resolved.layout == "meshflow"
    assert "meshflow model from the Hugging Face cache" in resolved.describe()
    assert not (Path(os.environ[CACHE_ENV]) / "hub").exists()  # nothing converted, nothing copied


def resolve_model_via_convert(local: Path, out: Path) -> Path:
    layout = OriginalLayout()
    assert main(["convert-original", "--vae", str(local / layout.vae), "--rf", str(local / layout.rf),
                 "--config", str(local / layout.config), "--factors", str(local / layout.factors),
                 "-o", str(out)]) == 0
    return out


def test_save_pretrained_card_and_round_trip(shared, hub, tmp_path, ball):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    pipe = AnimationPipeline.from_pretrained(REPO)
    out = pipe.save_pretrained(tmp_path / "saved", metrics={"edge_change": 0.0123})
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "mmdit.safetensors",
                                                     "text_encoder.safetensors", "vae.safetensors"]
    card = (out / "README.md").read_text()
    for part in ("# saved", "## Component `vae`", "| latent_dim | 8 |", "## Component `mmdit`", "| width | 32 |",
                 "## Latent factors", "| ft_std | 0.7 |", "## Sampling defaults", "animateanymesh-original",
                 "| edge_change | 0.0123 |"):
        assert part in card, part
    config = json.loads((out / "config.json").read_text())
    assert config["metrics"] == {"edge_change": 0.0123} and config["source"]["format"] == "animateanymesh-original"
    again = AnimationPipeline.from_pretrained(out)
    a = pipe(str(ball), "it hops", steps=3, seed=0).vertices
    assert np.array_equal(a, again(str(ball), "it hops", steps=3, seed=0).vertices)


def test_training_config_read_once_per_conversion(shared, hub, tmp_path, monkeypatch):
    """fetch_model reads training_config.json for the layout and hands it to the conversion, which does not read it
    again; the converted model is the one convert_original makes from the snapshot's files."""
    snapshot = write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    reads = counting_reads(monkeypatch)
    resolved = resolve_model(REPO)
    assert reads == ["training_config.json"]
    layout = OriginalLayout()
    direct = convert_original(tmp_path / "direct", config=snapshot / layout.config, rf=snapshot / layout.rf,
                              factors=snapshot / layout.factors, vae=snapshot / layout.vae)
    assert files_of(resolved.path) == files_of(direct)


def test_half_written_entry_is_redone(shared, hub):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    good = resolve_model(REPO).path
    marker = good.parent / "entry.json"
    (good / "mmdit.safetensors").write_bytes(b"cut short")  # a copy interrupted midway: sizes disagree
    assert not remote.entry_complete(good.parent)
    assert not cached_models()[0].complete
    redone = resolve_model(REPO)
    assert redone.redone and not redone.cached and "half-written copy redone" in redone.describe()
    assert remote.entry_complete(good.parent)
    marker.unlink()  # killed before the marker: converted again too
    assert resolve_model(REPO).redone and marker.is_file()


def test_interrupted_conversion_leaves_nothing(shared, hub, monkeypatch):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))

    def killed(out, **kwargs):
        Path(out).mkdir()
        (Path(out) / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(remote, "convert_original", killed)
    with pytest.raises(KeyboardInterrupt):
        resolve_model(REPO)
    folder = Path(os.environ[CACHE_ENV]) / "hub" / "models--JarrentWu--AnimateAnyMesh"
    assert [p.name for p in folder.iterdir()] == []  # no entry, no temporary folder, no ref


def test_snapshot_missing_a_file(shared, hub):
    files = original_files(shared)
    del files["dvae_factors/dvae_f.json"]
    write_hub_snapshot(hub, REPO, COMMIT, files)
    with pytest.raises(CheckpointError, match=rf"^{REPO}: the snapshot aaaaaaaaaaaa lacks dvae_factors/dvae_f.json "
                                              r"\(an original release holds rf_model/training_config.json, "):
        resolve_model(REPO)
    assert not (Path(os.environ[CACHE_ENV]) / "hub" / "models--JarrentWu--AnimateAnyMesh" / COMMIT).exists()


def test_snapshot_of_neither_layout(hub):
    write_hub_snapshot(hub, "me/other", COMMIT, {"README.md": b"hi"})
    with pytest.raises(CheckpointError, match=r"^me/other@aaaaaaaaaaaa: holds neither a meshflow model \(config.json\) nor the original "
                                              r"AnimateAnyMesh release \(rf_model/training_config.json\)"):
        resolve_model("me/other")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch evil-ran",))


@pytest.mark.parametrize("content, problem", [
    (lambda: _pickle(Evil()), r"it is a pickle that would call (posix|nt)\.system"),
    (lambda: b"PK\x03\x04 not really a zip" + bytes(64), r"not a (torch|plain tensor) checkpoint"),
])
def test_unsafe_or_corrupt_checkpoint_refused(shared, hub, tmp_path, monkeypatch, content, problem):
    monkeypatch.chdir(tmp_path)
    files = original_files(shared)
    files["rf_model/rf_epoch_f.pth"] = content()
    write_hub_snapshot(hub, REPO, COMMIT, files)
    with pytest.raises(CheckpointError, match=r"rf_epoch_f\.pth: refused to load: " + problem):
        resolve_model(REPO)
    assert not (tmp_path / "evil-ran").exists()
    assert cached_models() == []


def _pickle(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_network_error_names_repo_and_cause(hub, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(MeshflowError, match=rf"^{REPO}: cannot download from the Hugging Face Hub \(\w*Connect\w*: "):
        resolve_model(REPO)
    assert not (Path(os.environ[CACHE_ENV]) / "hub").exists()


def test_model_env_may_name_a_hub_model(shared, hub, monkeypatch):
    from meshflow.pipeline import MODEL_ENV, resolve_model_dir

    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    monkeypatch.setenv(MODEL_ENV, REPO)
    path = resolve_model_dir()
    assert path.parent.name == COMMIT and path.name == "model"
    assert remote.describe_model(path).startswith(f"{REPO}@{COMMIT[:12]} (converted now: ")


def test_a_killed_writers_temporary_folder_is_not_an_entry(shared, hub):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    folder = Path(os.environ[CACHE_ENV]) / "hub" / "models--JarrentWu--AnimateAnyMesh"
    (folder / f".{COMMIT}.tmp-abcd1234" / "model").mkdir(parents=True)  # what a kill -9 mid-conversion leaves
    assert cached_models() == []
    assert not resolve_model(REPO).cached and [r.commit for r in cached_models()] == [COMMIT]


def test_a_killed_writers_temporary_ref_is_not_a_ref(shared, hub):
    """refs/ are written by atomic_file: a kill -9 mid-write leaves .REV.tmp-XXXXXXXX.tmp, which no walk reads."""
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    write_hub_snapshot(hub, REPO, COMMIT_V1, original_files(shared, seed=1), refs=("v1",))
    resolve_model(REPO), resolve_model(f"{REPO}@v1")
    refs = Path(os.environ[CACHE_ENV]) / "hub" / "models--JarrentWu--AnimateAnyMesh" / "refs"
    temporary = [refs / ".v1.tmp-abcd1234.tmp", refs / ".main.tmp-wxyz9876.tmp"]
    temporary[0].write_text(COMMIT_V1)
    temporary[1].write_text("")  # mkstemp made it, the kill came before the commit was written
    assert sorted((r.commit, r.revisions) for r in cached_models(REPO)) == [(COMMIT, ("main",)), (COMMIT_V1, ("v1",))]
    assert remote.remove_model(ModelId(REPO, "v1"), download=False) == [refs.parent / COMMIT_V1]
    assert sorted(p.name for p in refs.iterdir()) == sorted(["main"] + [p.name for p in temporary])  # left alone
    assert [(r.commit, r.revisions) for r in cached_models(REPO)] == [(COMMIT, ("main",))]


def test_no_hugging_face_cache_is_scanned_once(hub, monkeypatch):
    """A scan that found no Hugging Face cache at all (None) is a result: remove_model scans once and
    hub_downloads given that result does not scan again; without a scan it scans now."""
    shutil.rmtree(hub)  # no Hugging Face cache at all
    scans, real = [], remote._scan_hf_cache
    monkeypatch.setattr(remote, "_scan_hf_cache", lambda: scans.append(1) or real())
    assert remote.remove_model(ModelId(REPO)) == [] and len(scans) == 1
    assert remote.hub_downloads(REPO, None) == [] and len(scans) == 1
    assert remote.hub_downloads(REPO) == [] and len(scans) == 2


def test_model_card_reads_the_config():
    card = remote.model_card({"components": {"vae": {"dim": 32}, "text_encoder": {"name": "minilm"}},
                              "factors": {"f0_mean": 0.5}, "flow": {"steps": 8},
                              "training": {"config": {"data": {"source": "dymesh", "clips": 1200}}}}, title="run-7")
    lines = card.splitlines()
    assert lines[0] == "# run-7"
    for heading, row in (("## Component `vae`", "| dim | 32 |"), ("## Component `text_encoder`", "| name | minilm |"),
                         ("## Latent factors", "| f0_mean | 0.5 |"), ("## Sampling defaults", "| steps | 8 |"),
                         ("## Data", "| clips | 1200 |"), ("## Metrics", "Not measured for this directory.")):
        at = lines.index(heading)
        assert row in lines[at:at + 6], (heading, lines[at:at + 6])
    assert "| source | dymesh |" in lines and "Not recorded." not in lines


def test_save_pretrained_of_a_trained_minilm_model(tmp_path, ball):
    from tests.test_pipeline import make_model_dir

    pipe = AnimationPipeline.from_pretrained(make_model_dir(tmp_path / "trained"))
    out = pipe.save_pretrained(tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "mmdit.safetensors", "vae.safetensors"]
    assert "| name | minilm |" in (out / "README.md").read_text()
    a = pipe(str(ball), "it hops", seed=1).vertices
    assert np.array_equal(a, AnimationPipeline.from_pretrained(out)(str(ball), "it hops", seed=1).vertices)
