"""Blocks shared by at least two papers (STYLE.md: a block lives here only when two papers use it identically).

- ``discriminator``: the multi-scale PatchGAN of pix2pixHD / SPADE, used by SMIS (GroupDNet) and BachGAN.
"""
from synthkit.nn.discriminator import MultiscaleDiscriminator, PatchGAN

__all__ = ["MultiscaleDiscriminator", "PatchGAN"]
