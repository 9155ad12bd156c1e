"""meshflow: animate any 3D mesh from a text prompt (AnimateAnyMesh on PyTorch Geometric).

Data flow: ``io`` (files) -> ``data`` (mesh graphs, datasets) -> ``nn`` (layers)
-> ``models`` (DyMeshVAE, MMDiT, text encoders) -> ``flow`` (rectified flow)
-> ``train`` -> ``pipeline`` -> ``commands`` (the command line).
"""
import os
from importlib import import_module

from .cache import cache_dir
from .version import __version__

# Importing PyG makes torch create an empty torchinductor_<user> folder in $TMPDIR; point torch's
# compile cache into meshflow's cache instead, so a run leaves $TMPDIR as it found it.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "torchinductor"))

_LAZY = {
    "load_mesh": "meshflow.data.graph",
    "read_mesh": "meshflow.io",
    "mesh_graph": "meshflow.data",
    "MeshflowError": "meshflow.errors",
    "DyMeshVAE": "meshflow.models",
    "MMDiT": "meshflow.models",
    "AnimationPipeline": "meshflow.pipeline",
    "animate_sequence": "meshflow.sequence",
    "make_region": "meshflow.region",
    "fit_skinning": "meshflow.rig",
}


def __getattr__(name):  # lazy: `import meshflow` stays fast and needs no model code
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'meshflow' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
