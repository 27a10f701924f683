"""Hugging Face Space entry point (the Space runs ``python app.py``).

Template: a Space serves one synthkit app module's standalone ``build_demo()``. To make a new Space, copy this
folder to ``spaces/<name>/``, change the import below, and edit the README front matter (see spaces/README.md).
The test ``tests/test_spaces.py`` imports this file and calls ``build_demo()`` for every folder under spaces/.
"""
from demos.common import launch_kwargs
from demos.toyscapes_explorer import build_demo

__all__ = ["build_demo"]

if __name__ == "__main__":
    # Spaces set GRADIO_SERVER_NAME=0.0.0.0 and the port; Gradio reads both from the environment.
    build_demo().launch(**launch_kwargs())
