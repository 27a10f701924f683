"""Converters from the authors' official checkpoints to synthkit folders (``synthkit convert <paper> ...``).

- ``smis``: Seanseattle/SMIS ``latest_net_G.pth`` (+ ``latest_net_E.pth``) -> ``GroupDNet``.
- ``bachgan``: Cold-Winter/BachGAN ``*_net_G.pth`` -> ``BachGANGenerator``.
- ``common``: weights-only loading, spectral-norm folding / renaming, conversion reports, parity fixtures.

Submodules are imported on demand (``from synthkit.convert.smis import convert_smis``).
"""
