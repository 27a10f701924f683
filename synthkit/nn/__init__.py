"""Blocks shared by at least two papers (STYLE.md: a block lives here only when two papers use it identically).

- ``discriminator``: the multi-scale PatchGAN of pix2pixHD / SPADE, used by SMIS (GroupDNet) and BachGAN, and
  ``discriminate(D, cond, x_fake, x_real)``, their one-batch conditional call.
"""
from synthkit.nn.discriminator import MultiscaleDiscriminator, PatchGAN, discriminate

__all__ = ["MultiscaleDiscriminator", "PatchGAN", "discriminate"]
