"""Hugging Face Space entry point (the Space runs ``python app.py``): the tabbed synthkit app, every paper.

Serves ``demos.app.build_demo()`` (see spaces/README.md), the app ``synthkit demo`` launches locally. The bundled
checkpoints ship inside the synthkit package: nothing is downloaded at start-up.
"""
from demos.app import build_demo
from demos.common import launch_kwargs

__all__ = ["build_demo"]

if __name__ == "__main__":
    # Spaces set GRADIO_SERVER_NAME=0.0.0.0 and the port; Gradio reads both from the environment.
    build_demo().launch(**launch_kwargs())
