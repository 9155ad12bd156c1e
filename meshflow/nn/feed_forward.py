import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Module


class GEGLUFeedForward(Module):
    r"""The gated-GELU feed-forward network from the `"GLU Variants Improve
    Transformer" <https://arxiv.org/abs/2002.05202>`_ paper, as used by every
    DyMeshVAE block of the `"AnimateAnyMesh"
    <https://arxiv.org/abs/2506.09982>`_ paper:

    .. math::
        [\mathbf{a} \,\|\, \mathbf{g}] = \mathbf{W}_1 \mathbf{x} + \mathbf{b}_1,
        \qquad
        \mathbf{y} = \mathbf{W}_2 \left( \mathbf{a} \odot \mathrm{GELU}(\mathbf{g}) \right)
        + \mathbf{b}_2

    with :math:`\mathbf{a}, \mathbf{g} \in \mathbb{R}^{mC}` and the exact (erf) GELU.

    Args:
        channels (int): Input and output size :math:`C`.
        mult (int, optional): Hidden size multiplier :math:`m`. (default: :obj:`4`)

    Shapes:
        - **input:** :math:`(*, C)`
        - **output:** :math:`(*, C)`
    """

    def __init__(self, channels: int, mult: int = 4):
        super().__init__()
        self.channels = channels
        self.mult = mult
        self.lin1 = Linear(channels, 2 * mult * channels)
        self.lin2 = Linear(mult * channels, channels)
        self.reset_parameters()

    def reset_parameters(self):
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        a, gate = self.lin1(x).chunk(2, dim=-1)  # (*, mC) each
        return self.lin2(a * F.gelu(gate))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, mult={self.mult})"
