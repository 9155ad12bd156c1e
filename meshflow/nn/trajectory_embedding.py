import math

import torch
from torch import Tensor
from torch.nn import Linear, Module


class TrajectoryEmbedding(Module):
    r"""The NeRF-style trajectory embedding from the `"AnimateAnyMesh: A
    Feed-Forward 4D Foundation Model for Text-Driven Universal Mesh Animation"
    <https://arxiv.org/abs/2506.09982>`_ paper (DyMeshVAE encoder, motion branch).

    The displacements of a vertex over :math:`T` frames, flattened frame-major
    into :math:`\mathbf{x} \in \mathbb{R}^{3T}` (``(t, xyz)`` order), are
    expanded with the frequencies :math:`f_k = 2^k`, :math:`k < F`:

    .. math::
        \mathbf{e}_i = \mathbf{W} \left[ \mathbf{x} \,\|\,
        \sin(f_0 \pi \mathbf{x}) \,\|\, \cdots \,\|\, \sin(f_{F-1} \pi \mathbf{x}) \,\|\,
        \cos(f_0 \pi \mathbf{x}) \,\|\, \cdots \,\|\, \cos(f_{F-1} \pi \mathbf{x}) \right]
        + \mathbf{b}

    (the sine and cosine blocks are ordered frequency-major, then value).

    Args:
        in_channels (int): Number of input values :math:`3T` per vertex.
        channels (int): Size :math:`C` of each output embedding.
        num_freqs (int, optional): Number of frequencies :math:`F`.
            (default: :obj:`10`)

    Shapes:
        - **input:** flattened displacements :math:`(*, 3T)`
        - **output:** embeddings :math:`(*, C)`
    """

    def __init__(self, in_channels: int, channels: int, num_freqs: int = 10):
        super().__init__()
        self.in_channels = in_channels
        self.channels = channels
        self.num_freqs = num_freqs
        freq_bands = torch.pow(2.0, torch.linspace(0.0, num_freqs - 1, num_freqs))
        self.register_buffer("freq_bands", freq_bands.view(-1, 1))  # (F, 1), the original's layout
        self.lin = Linear(in_channels * (2 * num_freqs + 1), channels)
        self.reset_parameters()

    def reset_parameters(self):
        self.lin.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.size(-1) != self.in_channels:
            raise ValueError(f"Expected the last dimension of the trajectories to be "
                             f"{self.in_channels} (got {tuple(x.shape)})")
        freqs = self.freq_bands.to(x.dtype).view(-1, 1) * math.pi  # (F, 1)
        angles = x.unsqueeze(-2) * freqs  # (*, F, 3T)
        lead = x.shape[:-1]
        feats = [x, angles.sin().reshape(*lead, -1), angles.cos().reshape(*lead, -1)]
        return self.lin(torch.cat(feats, dim=-1))  # (*, C)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.channels}, "
                f"num_freqs={self.num_freqs})")
