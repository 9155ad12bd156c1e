import math

import torch
from torch import Tensor
from torch.nn import Linear, Module


class PointEmbedding(Module):
    r"""The Fourier point embedding of the frame-0 vertex positions from the
    `"AnimateAnyMesh: A Feed-Forward 4D Foundation Model for Text-Driven
    Universal Mesh Animation" <https://arxiv.org/abs/2506.09982>`_ paper
    (DyMeshVAE encoder, shape branch).

    Every coordinate is multiplied by the frequencies :math:`2^i \pi`,
    :math:`i < F`, through a block-diagonal basis
    :math:`\mathbf{B} \in \mathbb{R}^{3 \times 3F}`:

    .. math::
        \mathbf{e}_i = \mathbf{W} \left[ \sin(\mathbf{v}_i \mathbf{B}) \,\|\,
        \cos(\mathbf{v}_i \mathbf{B}) \,\|\, \mathbf{v}_i \right] + \mathbf{b}

    Args:
        channels (int): Size :math:`C` of each output embedding.
        num_freqs (int, optional): Number of frequencies :math:`F` per axis;
            the original uses 8, i.e. a (3, 24) basis and 51 features.
            (default: :obj:`8`)

    Shapes:
        - **input:** positions :math:`(*, 3)`
        - **output:** embeddings :math:`(*, C)`
    """

    def __init__(self, channels: int, num_freqs: int = 8):
        super().__init__()
        self.channels = channels
        self.num_freqs = num_freqs
        freqs = torch.pow(2.0, torch.arange(num_freqs, dtype=torch.float64)) * math.pi
        basis = torch.zeros(3, 3 * num_freqs, dtype=torch.float64)
        for axis in range(3):  # axis a uses columns [a F, (a + 1) F)
            basis[axis, axis * num_freqs:(axis + 1) * num_freqs] = freqs
        self.register_buffer("basis", basis.float())
        self.lin = Linear(6 * num_freqs + 3, channels)
        self.reset_parameters()

    def reset_parameters(self):
        self.lin.reset_parameters()

    def forward(self, pos: Tensor) -> Tensor:
        proj = pos @ self.basis.to(pos.dtype)  # (*, 3F)
        return self.lin(torch.cat([proj.sin(), proj.cos(), pos], dim=-1))  # (*, C)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, num_freqs={self.num_freqs})"
