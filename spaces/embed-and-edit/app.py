"""Hugging Face Space entry point (the Space runs ``python app.py``): Image2StyleGAN++ embed and edit.

Serves ``demos.embed_and_edit.build_demo()`` (see spaces/README.md). The bundled ``stylegan2-toyscapes64`` checkpoint
ships inside the synthkit package: nothing is downloaded at start-up.
"""
from demos.common import launch_kwargs
from demos.embed_and_edit import build_demo

__all__ = ["build_demo"]

if __name__ == "__main__":
    # Spaces set GRADIO_SERVER_NAME=0.0.0.0 and the port; Gradio reads both from the environment.
    build_demo().launch(**launch_kwargs())
