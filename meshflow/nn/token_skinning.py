import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import GELU, LayerNorm, Linear, Module, Parameter, Sequential
from torch.nn.init import zeros_


def rotation_6d(a: Tensor) -> Tensor:
    r"""Rotation matrices from the 6D representation of `"On the Continuity of
    Rotation Representations in Neural Networks" <https://arxiv.org/abs/1812.07035>`_:
    the two 3-vectors :math:`\mathbf{a}_1, \mathbf{a}_2` are Gram-Schmidt
    orthonormalised into the first two columns, the third is their cross product.

    Shapes:
        - **input:** :math:`(*, 6)`
        - **output:** :math:`(*, 3, 3)`; ``a = (1, 0, 0, 0, 1, 0)`` gives the identity
    """
    a1, a2 = a[..., :3], a[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


class TokenSkinning(Module):
    r"""Linear blend skinning with the :math:`K` decoded tokens of a mesh as bones
    (meshflow's ``decoder="blend"``, beyond the AnimateAnyMesh paper).

    Every vertex gets skinning weights over its mesh's tokens, every token a rigid
    transform per frame, and the vertex follows their blend:

    .. math::
        w_{vk} = \mathrm{softmax}_k\left(\frac{\mathbf{W}_q \mathrm{LN}(\mathbf{u}_v) \cdot
        \mathbf{W}_k \mathrm{LN}(\mathbf{h}^0_k)}{\sqrt{D}}
        - \frac{\lVert \mathbf{p}_v - \mathbf{q}_k \rVert^2}{2 \rho^2}\right)

    .. math::
        \mathbf{x}_v(t) = \sum_k w_{vk} \left(\mathbf{R}_{kt} (\mathbf{p}_v - s_{kt}\mathbf{q}_k)
        + s_{kt}\mathbf{q}_k + \mathbf{b}_{kt}\right)

    :math:`\mathbf{p}_v` is the vertex's rest position and :math:`\mathbf{q}_k` the rest
    position of token :math:`k`'s vertex (the encoder's FPS pick). The distance term, with a
    learned radius :math:`\rho` (initially :obj:`radius`), makes every token a local bone from
    the first step: with weights spread evenly over the tokens every token would get the same
    gradient and only a whole-body motion could be learned. :math:`\mathbf{R}_{kt}` comes from
    a 6D rotation, :math:`\mathbf{b}_{kt}` is a translation and :math:`s_{kt} = \sigma(\cdot)
    \in (0, 1)` the choice of pivot, all read from :math:`[\mathbf{h}^0_k, \mathbf{h}^T_k]`
    by a two-layer MLP whose last layer starts at the identity (no motion). The pivot runs
    from the origin (the mesh's centre: :math:`s = 0`, where a whole-body rotation is the same
    transform for every token) to the token itself (:math:`s = 1`, where a limb turning about
    its joint needs only a small translation). Rigid and articulated motion are exactly
    representable; the weights are skinning weights.

    The blend is one matrix product per vertex block: every token's transforms are folded
    into :math:`[\mathbf{R}_{kt} \mid s_{kt}(\mathbf{q}_k - \mathbf{R}_{kt} \mathbf{q}_k)
    + \mathbf{b}_{kt}]` (3 x 4), blended by :math:`w` and applied to :math:`[\mathbf{p}_v, 1]`.
    Vertices go through in blocks of :obj:`chunk_size` rows.

    Args:
        query_channels (int): Size of each vertex query :math:`\mathbf{u}_v`.
        token_channels (int): Size :math:`C` of each token stream :math:`\mathbf{h}^0, \mathbf{h}^T`.
        frames (int): :math:`T`.
        head_channels (int, optional): Size :math:`D` of the weight projections. (default: :obj:`64`)
        radius (float, optional): Initial :math:`\rho`, in the normalised units of ``pos``
            (the mesh in :math:`[-1, 1]^3`). (default: :obj:`0.1`)
        chunk_size (int, optional): Vertex rows per block; :obj:`None` takes a mesh at once.
            (default: :obj:`None`)

    Shapes:
        - **input:** query :math:`(N, C_q)`, pos :math:`(N, 3)`, h0 and hT :math:`(B, K, C)`,
          token_pos :math:`(B, K, 3)`, ptr :math:`(B + 1,)`
        - **output:** :math:`(N, T, 3)` positions
    """

    CHANNELS = 10  # per token and frame: 6D rotation, translation, pivot logit

    def __init__(self, query_channels: int, token_channels: int, frames: int, head_channels: int = 64,
                 radius: float = 0.1, chunk_size=None):
        super().__init__()
        self.frames = frames
        self.head_channels = head_channels
        self.radius = radius
        self.chunk_size = chunk_size
        C = token_channels
        self.norm_q = LayerNorm(query_channels)
        self.norm_k = LayerNorm(C)
        self.lin_q = Linear(query_channels, head_channels, bias=False)
        self.lin_k = Linear(C, head_channels, bias=False)
        self.log_radius = Parameter(torch.empty(()))
        self.norm_t = LayerNorm(2 * C)
        self.to_transforms = Sequential(Linear(2 * C, C), GELU(), Linear(C, self.CHANNELS * frames))
        self.reset_parameters()

    def reset_parameters(self):
        for module in (self.norm_q, self.norm_k, self.lin_q, self.lin_k, self.norm_t,
                       self.to_transforms[0], self.to_transforms[2]):
            module.reset_parameters()
        last = self.to_transforms[2]
        zeros_(last.weight)
        with torch.no_grad():  # identity rotation, zero translation, pivot half way in every frame
            self.log_radius.fill_(math.log(self.radius))
            bias = last.bias.view(self.frames, self.CHANNELS)
            bias.zero_()
            bias[:, 0] = 1.0
            bias[:, 4] = 1.0

    def transforms(self, h0: Tensor, hT: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Per-token rotations :math:`(B, K, T, 3, 3)`, translations :math:`(B, K, T, 3)`
        and pivot shares :math:`s` :math:`(B, K, T, 1)`."""
        B, K, _ = h0.shape
        out = self.to_transforms(self.norm_t(torch.cat([h0, hT], dim=-1))).view(B, K, self.frames, self.CHANNELS)
        return rotation_6d(out[..., :6]), out[..., 6:9], torch.sigmoid(out[..., 9:])

    def weights(self, query: Tensor, pos: Tensor, keys: Tensor, token_pos: Tensor) -> Tensor:
        r"""Skinning weights :math:`(n, K)` of vertex queries :math:`(n, C_q)` at positions
        :math:`(n, 3)` over projected keys :math:`(K, D)` at token positions :math:`(K, 3)`."""
        q = self.lin_q(self.norm_q(query)) * self.head_channels ** -0.5
        near = torch.cdist(pos, token_pos).pow(2) * (0.5 * torch.exp(-2.0 * self.log_radius))
        return torch.softmax(q @ keys.transpose(0, 1) - near, dim=-1)

    def forward(self, query: Tensor, pos: Tensor, h0: Tensor, hT: Tensor, token_pos: Tensor,
                ptr: Tensor) -> Tensor:
        B, K, _ = h0.shape
        T = self.frames
        if ptr.numel() != B + 1 or int(ptr[-1]) != query.size(0) or pos.size(0) != query.size(0):
            raise ValueError(f"Expected {int(ptr[-1])} vertex queries and positions for {B} token sets "
                             f"(got {query.size(0)} queries, {pos.size(0)} positions)")
        if tuple(token_pos.shape) != (B, K, 3):
            raise ValueError(f"Expected 'token_pos' to have shape (B, K, 3) = ({B}, {K}, 3) "
                             f"(got {tuple(token_pos.shape)})")
        R, b, s = self.transforms(h0, hT)  # (B, K, T, 3, 3), (B, K, T, 3), (B, K, T, 1)
        pivot = s * token_pos.unsqueeze(2)  # (B, K, T, 3)
        shift = pivot - (R @ pivot.unsqueeze(-1)).squeeze(-1) + b  # (B, K, T, 3)
        fold = torch.cat([R, shift.unsqueeze(-1)], dim=-1).reshape(B, K, T * 12)  # (B, K, T*3*4)
        keys = self.lin_k(self.norm_k(h0))  # (B, K, D)
        out = pos.new_empty(pos.size(0), T, 3)
        for m, (start, end) in enumerate(zip(ptr[:-1].tolist(), ptr[1:].tolist())):
            step = (end - start) if self.chunk_size is None else self.chunk_size
            for a in range(start, end, max(step, 1)):
                e = min(a + step, end)
                w = self.weights(query[a:e], pos[a:e], keys[m], token_pos[m])  # (n, K)
                A = (w @ fold[m]).view(e - a, T, 3, 4)  # blended [R | t] per vertex and frame
                out[a:e] = (A[..., :3] @ pos[a:e].view(e - a, 1, 3, 1)).squeeze(-1) + A[..., 3]
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(frames={self.frames}, head_channels={self.head_channels}, "
                f"radius={self.radius})")
