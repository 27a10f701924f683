"""synthkit: five CVPR 2020 image-synthesis papers, readable, runnable offline.

Public API::

    import synthkit
    synthkit.list_models()          # named checkpoints (bundled folders and Hub repo ids)
    model = synthkit.load("smis-toyscapes")
"""
__version__ = "0.1.0"

from synthkit.hub import list_models, load  # noqa: E402,F401

__all__ = ["__version__", "list_models", "load"]
