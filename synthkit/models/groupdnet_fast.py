"""Fast eval-mode inference of a GroupDNet: the same outputs as ``synthkit.models.groupdnet`` on folded weights.

Opt-in (the style-morphing app and the benchmarks use it; the pipelines take ``fast=True``)::

    fast = FastGroupDNet(model)                 # model: a GroupDNet; nothing is copied, weights are read from it
    image = fast.generate(z, seg)               # == model.eval().generate(z, seg) within 1e-5
    cache = fast.precompute_norm_params(seg)    # the label-map branch once, then
    image = fast.generate(z, norm_cache=cache)  # only the code path (a morph tick)

In eval mode every affine step that does not depend on the input can be done once on the weights instead of on
every activation:

- spectral norm (W / sigma) is applied once;
- CG-Norm's batch-norm statistics (running mean mu, std s) fold into its gamma/beta convs. Since
  ``PFN(x)(1 + gamma) + beta = x * scale + shift`` with ``scale = (1 + gamma) / s`` and
  ``shift = beta - mu * scale``, and gamma, beta are linear in actv, scale and shift are two convs of actv with
  folded weights (``fold_cgnorm``): no element-wise normalisation pass;
- the shortcut's 1x1 conv folds into its CG-Norm's shift conv where that is cheaper (``fold_block``);
- a one-off forward computes each block's label-map branch just before the block and, when no gradient is recorded,
  writes activations in place.

The folded weights are computed once and reused until a parameter or buffer of the model changes (load_state_dict,
an optimiser step, ``.to``); with autograd on (optimising z through G) they are recomputed so gradients reach the
parameters. Tested equal to the plain forward and to the official outputs (tests/test_groupdnet.py,
tests/test_parity_smis.py); speed: benchmarks/bench_smis.py, benchmarks/bench_morph_app.py.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from synthkit.models.groupdnet import (
    MEMORY_FORMAT,
    CGNorm,
    GroupDNet,
    GroupDNetGenerator,
    GroupResBlock,
    NormCache,
    latent_to_official,
)

__all__ = ["FastGroupDNet", "FastGroupDNetGenerator", "fold_block", "fold_cgnorm"]


def _block_diagonal(w: torch.Tensor, groups: int) -> torch.Tensor:
    """Grouped conv weight [out, in/G, k, k] -> the equivalent dense weight [out, in, k, k] (zeros off the groups)."""
    out, in_g = w.shape[:2]
    dense = w.new_zeros(out, in_g * groups, *w.shape[2:])
    out_g = out // groups
    for g in range(groups):
        dense[g * out_g:(g + 1) * out_g, g * in_g:(g + 1) * in_g] = w[g * out_g:(g + 1) * out_g]
    return dense


def _regroup(dense: torch.Tensor, groups: int) -> torch.Tensor:
    """Dense weight [out, in, k, k] that is block diagonal in ``groups`` blocks -> grouped weight [out, in/G, k, k]."""
    out, cin = dense.shape[:2]
    out_g, in_g = out // groups, cin // groups
    return torch.cat([dense[g * out_g:(g + 1) * out_g, g * in_g:(g + 1) * in_g] for g in range(groups)])


@dataclass(frozen=True)
class FoldedConv:
    """A conv's weights, ready for ``F.conv2d`` (NHWC, spectral norm applied), with its groups and padding."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    groups: int
    padding: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding, groups=self.groups)

    @classmethod
    def of(cls, conv: torch.nn.Conv2d) -> "FoldedConv":
        # conv.weight is W / sigma under a spectral-norm parametrization
        return cls(conv.weight.contiguous(memory_format=MEMORY_FORMAT), conv.bias, conv.groups, conv.padding[0])


@dataclass(frozen=True)
class FoldedCGNorm:
    """Eval-mode CG-Norm: actv = relu(shared(m)); x * scale(actv) + shift(actv)."""

    shared: FoldedConv
    scale: FoldedConv
    shift: FoldedConv


@dataclass(frozen=True)
class FoldedBlock:
    """Eval-mode GroupResBlock. ``shift_through_shortcut``: norm_s's shift conv already includes conv_s."""

    norms: dict[str, FoldedCGNorm]
    conv_0: FoldedConv
    conv_1: FoldedConv
    conv_s: FoldedConv | None
    shift_through_shortcut: bool


@dataclass(frozen=True)
class FoldedGenerator:
    fc: FoldedConv
    blocks: list[FoldedBlock]
    conv_img: FoldedConv


def fold_cgnorm(norm: CGNorm) -> FoldedCGNorm:
    """Batch-norm statistics folded into the gamma/beta convs (computed in float64, then cast):

        scale = (1 + gamma) / s    = conv(actv; W_gamma / s, (1 + b_gamma) / s)
        shift = beta - mu * scale  = conv(actv; W_beta - mu W_gamma / s, b_beta - mu (1 + b_gamma) / s)
    """
    bn, g, b = norm.param_free_norm, norm.mlp_gamma, norm.mlp_beta
    f64 = torch.float64
    inv_std = torch.rsqrt(bn.running_var.to(f64) + bn.eps)  # 1 / s, [channels]
    mean = bn.running_mean.to(f64)
    w_scale = g.weight.to(f64) * inv_std[:, None, None, None]
    b_scale = (1.0 + g.bias.to(f64)) * inv_std
    w_shift = b.weight.to(f64) - mean[:, None, None, None] * w_scale
    b_shift = b.bias.to(f64) - mean * b_scale
    dtype = g.weight.dtype

    def conv(w: torch.Tensor, bias: torch.Tensor, groups: int) -> FoldedConv:
        return FoldedConv(w.to(dtype).contiguous(memory_format=MEMORY_FORMAT), bias.to(dtype), groups, 1)

    return FoldedCGNorm(FoldedConv.of(norm.mlp_shared), conv(w_scale, b_scale, g.groups),
                        conv(w_shift, b_shift, b.groups))


def fold_block(block: GroupResBlock) -> FoldedBlock:
    """Eval-mode weights of a block (``fold_cgnorm`` for each norm), plus one more fold on the shortcut.

    The shortcut is conv_s(x * scale_s + shift_s) with a 1x1 conv_s, which is linear, so
        conv_s(x * scale_s + shift_s) = conv_s(x * scale_s) + conv_s(shift_s)
    and conv_s(shift_s) = conv_s(conv3x3(actv; W_shift)) is itself one 3x3 conv of actv, with weights
    W_s . W_shift [fout, hidden/G, 3, 3] and bias W_s . b_shift. It has fout outputs instead of fin, so it is
    cheaper when fout < fin (DeepFashion: 128 -> 160 instead of 128 -> 320 at 256x256). It is used only then, and
    only when each group of conv_s reads whole groups of the shift conv (true for the DeepFashion and ADE20K
    CG-Norms; the Cityscapes one keeps the plain form).
    """
    norms = {name: fold_cgnorm(norm) for name, norm in block.norms().items()}
    conv_s = FoldedConv.of(block.conv_s) if block.learned_shortcut else None
    through = False
    if conv_s is not None:
        shift = norms["norm_s"].shift
        gs, gh = conv_s.groups, shift.groups  # groups of conv_s and of the shift conv
        fin, fout = conv_s.weight.shape[1] * gs, conv_s.weight.shape[0]
        hidden = shift.weight.shape[1] * gh
        cheaper = (hidden // gs) * fout < (hidden // gh) * fin
        if gh % gs == 0 and cheaper:
            f64 = torch.float64
            w_s = _block_diagonal(conv_s.weight.to(f64), gs)[:, :, 0, 0]  # [fout, fin]
            w_sh = _block_diagonal(shift.weight.to(f64), gh)  # [fin, hidden, 3, 3]
            w = _regroup(torch.einsum("oc,chij->ohij", w_s, w_sh), gs)  # [fout, hidden/gs, 3, 3]
            b = w_s @ shift.bias.to(f64)  # [fout]
            dtype = shift.weight.dtype
            composed = FoldedConv(w.to(dtype).contiguous(memory_format=MEMORY_FORMAT), b.to(dtype), gs, 1)
            norms["norm_s"] = replace(norms["norm_s"], shift=composed)
            through = True
    return FoldedBlock(norms, FoldedConv.of(block.conv_0), FoldedConv.of(block.conv_1), conv_s, through)


def _modulation(folded: FoldedBlock, m: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The label-map branch of each norm of a block: (scale, shift) maps at m's size."""
    out = {}
    for name, f in folded.norms.items():
        actv = F.relu(f.shared(m), inplace=True)  # [B, hidden, h, w]
        out[name] = (f.scale(actv), f.shift(actv))  # [B, channels, h, w] each
    return out


def _normalize(x: torch.Tensor, params: tuple[torch.Tensor, torch.Tensor], out: torch.Tensor | None = None):
    """x * scale + shift; ``out`` (x itself or the shift map, owned by the caller) receives it when given."""
    scale, shift = params
    if out is not None:
        return torch.addcmul(shift, x, scale, out=out)
    return torch.addcmul(shift, x, scale)


def _block_forward(block: GroupResBlock, f: FoldedBlock, x: torch.Tensor, params: dict, scratch_x: bool,
                   scratch_params: bool) -> torch.Tensor:
    """GroupResBlock's equations on folded weights. ``scratch_x`` / ``scratch_params``: x / params belong to this
    call alone and may be overwritten (no gradient recorded; a NormCache is never scratch)."""
    if not block.learned_shortcut:
        x_s = x
    elif f.shift_through_shortcut:  # conv_s(x * scale_s) + conv_s(shift_s), the second one precomputed
        scale_s, shift_through = params["norm_s"]
        x_s = f.conv_s(torch.mul(x, scale_s, out=scale_s) if scratch_params else x * scale_s)
        x_s = x_s.add_(shift_through)
    else:
        x_s = f.conv_s(_normalize(x, params["norm_s"], params["norm_s"][1] if scratch_params else None))
    # CGN_0 writes into x when x is scratch and no longer needed as the residual, else into its own shift map
    out_0 = x if scratch_x and block.learned_shortcut else params["norm_0"][1] if scratch_params else None
    dx = f.conv_0(F.leaky_relu(_normalize(x, params["norm_0"], out_0), 0.2, inplace=True))
    out_1 = dx if scratch_x else None  # dx is this call's own conv output
    dx = f.conv_1(F.leaky_relu(_normalize(dx, params["norm_1"], out_1), 0.2, inplace=True))
    return dx.add_(x_s)  # [B, fout, h, w]


class FastGroupDNetGenerator:
    """Eval-mode ``G(z, seg=None, norm_cache=None)`` of a GroupDNetGenerator, on folded weights (module docstring)."""

    def __init__(self, G: GroupDNetGenerator):
        self.G = G
        self._cache: tuple | None = None  # (state key, FoldedGenerator)

    def _state_key(self) -> tuple | None:
        """Identifies the current weights: (address, version) of every parameter and buffer; None if untracked."""
        G = self.G
        try:
            return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in (*G.parameters(), *G.buffers()))
        except RuntimeError:  # tensors created under torch.inference_mode() carry no version counter
            return None

    def _fold(self) -> FoldedGenerator:
        G = self.G
        return FoldedGenerator(FoldedConv.of(G.fc), [fold_block(b) for b in G.blocks], FoldedConv.of(G.conv_img))

    def folded(self) -> FoldedGenerator:
        """The folded weights: cached without autograd (until a weight changes), recomputed with it."""
        if self.G.training:
            raise ValueError("FastGroupDNetGenerator is for eval mode: call .eval() on the model first")
        if torch.is_grad_enabled():
            return self._fold()
        key = self._state_key()
        if key is None or self._cache is None or self._cache[0] != key:
            with torch.inference_mode(False), torch.no_grad():  # plain tensors, usable in and out of inference mode
                cached = (key, self._fold())
            if key is None:
                return cached[1]
            self._cache = cached
        return self._cache[1]

    def precompute_norm_params(self, seg: torch.Tensor) -> NormCache:
        """Every CG-Norm's label-map branch once, as (scale, shift) (shortcut: (scale_s, conv_s(shift_s)))."""
        maps = self.G.resized_maps(seg)
        folded = self.folded()
        params = [_modulation(f, m) for f, m in zip(folded.blocks, maps)]
        return NormCache(params, training=False, seg_shape=tuple(seg.shape), folded=True)

    def __call__(self, z: torch.Tensor, seg: torch.Tensor | None = None,
                 norm_cache: NormCache | None = None) -> torch.Tensor:
        G = self.G
        G.check_inputs(z, seg, norm_cache, folded=True)
        folded = self.folded()
        maps = G.resized_maps(seg) if norm_cache is None else None
        scratch = not torch.is_grad_enabled()
        own_params = norm_cache is None and seg.shape[0] == z.shape[0]  # not broadcast against a batch of codes
        x = folded.fc(latent_to_official(z).contiguous(memory_format=MEMORY_FORMAT))  # [B, block_channels[0], h, w]
        for i, (block, f) in enumerate(zip(G.blocks, folded.blocks)):
            if i > 0:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # [B, c, 2h, 2w]
            params = _modulation(f, maps[i]) if norm_cache is None else norm_cache.params[i]
            x = _block_forward(block, f, x, params, scratch_x=scratch, scratch_params=scratch and own_params)
        x = folded.conv_img(F.leaky_relu(x, 0.2, inplace=True))
        return torch.tanh_(x).contiguous()  # [B, 3, H, W]


class FastGroupDNet:
    """A GroupDNet's fast eval-mode inference with the same calls as the model (``generate``,
    ``precompute_norm_params``, ``encode``, ``sample_latent``, ``config``, ``G``)."""

    def __init__(self, model: GroupDNet):
        self.model = model.eval()
        self.fast_G = FastGroupDNetGenerator(model.G)

    def __getattr__(self, name: str) -> Any:  # config, G, E, encode, sample_latent, ... come from the model
        if name in ("model", "fast_G"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def generate(self, z: torch.Tensor, seg: torch.Tensor | None = None,
                 norm_cache: NormCache | None = None) -> torch.Tensor:
        return self.fast_G(z, seg, norm_cache=norm_cache)

    def precompute_norm_params(self, seg: torch.Tensor) -> NormCache:
        return self.fast_G.precompute_norm_params(seg)
