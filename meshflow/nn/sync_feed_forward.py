from typing import Tuple

from torch import Tensor
from torch.nn import LayerNorm, Module

from .feed_forward import GEGLUFeedForward


class SyncFeedForward(Module):
    r"""The paired feed-forward of the `"AnimateAnyMesh: A Feed-Forward 4D
    Foundation Model for Text-Driven Universal Mesh Animation"
    <https://arxiv.org/abs/2506.09982>`_ paper's DyMeshVAE blocks: the shape
    and the motion stream each go through their own pre-normalised
    :class:`GEGLUFeedForward`.

    .. math::
        \mathbf{r}_1 = \mathrm{FF}_1(\mathrm{LN}_1(\mathbf{x}_1)), \qquad
        \mathbf{r}_2 = \mathrm{FF}_2(\mathrm{LN}_2(\mathbf{x}_2))

    The layer returns the residuals :math:`(\mathbf{r}_1, \mathbf{r}_2)`.

    Args:
        channels (int): Size :math:`C` of both streams.
        mult (int, optional): Hidden size multiplier of each feed-forward.
            (default: :obj:`4`)

    Shapes:
        - **input:** x1 :math:`(*, C)`, x2 :math:`(*, C)`
        - **output:** two residuals :math:`(*, C)`
    """

    def __init__(self, channels: int, mult: int = 4):
        super().__init__()
        self.channels = channels
        self.mult = mult
        self.norm1 = LayerNorm(channels)
        self.norm2 = LayerNorm(channels)
        self.ff1 = GEGLUFeedForward(channels, mult)
        self.ff2 = GEGLUFeedForward(channels, mult)
        self.reset_parameters()

    def reset_parameters(self):
        for module in self.children():
            module.reset_parameters()

    def forward(self, x1: Tensor, x2: Tensor) -> Tuple[Tensor, Tensor]:
        return self.ff1(self.norm1(x1)), self.ff2(self.norm2(x2))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, mult={self.mult})"
