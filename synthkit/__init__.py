"""synthkit: five CVPR 2020 image-synthesis papers, readable, runnable offline.

Public API::

    import synthkit
    synthkit.list_models()          # named checkpoints (bundled folders and Hub repo ids)
    model = synthkit.load("smis-toyscapes")
"""
__version__ = "0.1.0"

__all__ = ["__version__", "list_models", "load"]


def __getattr__(name: str):
    # Imported lazily so that `import synthkit` (and `synthkit --help`) does not pull in torch.
    if name in ("list_models", "load"):
        from synthkit import hub

        return getattr(hub, name)
    raise AttributeError(f"module 'synthkit' has no attribute {name!r}")
