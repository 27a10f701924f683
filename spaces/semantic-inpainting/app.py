"""Hugging Face Space entry point (the Space runs ``python app.py``): Semantic Pyramid semantic inpainting.

Serves ``demos.semantic_inpainting.build_demo()`` (see spaces/README.md). The bundled ``pyramid-toyscapes``
checkpoint and the offline Toyscapes backbone it reads features with ship inside the synthkit package: nothing is
downloaded at start-up.
"""
from demos.common import launch_kwargs
from demos.semantic_inpainting import build_demo

__all__ = ["build_demo"]

if __name__ == "__main__":
    # Spaces set GRADIO_SERVER_NAME=0.0.0.0 and the port; Gradio reads both from the environment.
    build_demo().launch(**launch_kwargs())
