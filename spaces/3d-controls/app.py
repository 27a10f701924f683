"""Hugging Face Space entry point (the Space runs ``python app.py``): 3D controls (Liao et al.).

Serves ``demos.controls_3d.build_demo()`` (see spaces/README.md). The bundled ``controllable3d-toyshapes3d`` checkpoint
ships inside the synthkit package: nothing is downloaded at start-up.
"""
from demos.common import launch_kwargs
from demos.controls_3d import build_demo

__all__ = ["build_demo"]

if __name__ == "__main__":
    # Spaces set GRADIO_SERVER_NAME=0.0.0.0 and the port; Gradio reads both from the environment.
    build_demo().launch(**launch_kwargs())
