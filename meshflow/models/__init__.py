"""Models: DyMeshVAE, MMDiT, text encoders; model directories."""
from importlib import import_module

_LAZY = {
    "DyMeshVAE": "meshflow.models.dymesh_vae",
    "DyMeshVAEConfig": "meshflow.models.dymesh_vae",
    "MMDiT": "meshflow.models.mmdit",
    "MMDiTConfig": "meshflow.models.mmdit",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'meshflow.models' has no attribute {name!r}")
