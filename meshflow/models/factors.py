"""The latent factors of a model directory: the four scalars that standardise latents.

They are part of what a model directory holds (``config.json``'s ``factors``, the original's
rescale JSON), so they live beside the models; :mod:`meshflow.flow` standardises with them.
"""
import math
from dataclasses import asdict, dataclass

from ..errors import MeshflowError
from ..io.jsonfile import read_json


@dataclass
class LatentFactors:
    """The four scalars that standardise latents (the original's rescale JSON)."""

    f0_mean: float = 0.0  # mean of the shape latents
    f0_std: float = 1.0  # std of the shape latents
    ft_mean: float = 0.0  # mean of the trajectory latents
    ft_std: float = 1.0  # std of the trajectory latents

    @classmethod
    def from_dict(cls, d) -> "LatentFactors":
        missing = [k for k in ("f0_mean", "f0_std", "ft_mean", "ft_std") if k not in d]
        if missing:
            raise MeshflowError("Expected latent factors with keys f0_mean, f0_std, ft_mean, ft_std "
                                f"(missing: {', '.join(missing)})")
        values = {k: float(d[k]) for k in ("f0_mean", "f0_std", "ft_mean", "ft_std")}
        if not (values["f0_std"] > 0 and values["ft_std"] > 0) or not all(math.isfinite(v) for v in values.values()):
            raise MeshflowError(f"Expected finite latent factors with positive stds (got {values})")
        return cls(**values)

    @classmethod
    def from_json(cls, path) -> "LatentFactors":
        d = read_json(path, "latent factors file")
        try:
            return cls.from_dict(d)
        except MeshflowError as e:
            raise MeshflowError(f"{path}: {e}") from None

    def to_dict(self) -> dict:
        return asdict(self)
