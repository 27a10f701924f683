"""synthkit's Gradio apps.

``demos/app.py`` composes one tab per application (``synthkit demo`` launches it); each app module
(``demos/toyscapes_explorer.py``, ...) exposes ``build_tab()`` and a standalone ``build_demo()`` that its
Hugging Face Space (``spaces/<name>/app.py``) serves. Shared input handling lives in ``demos/common.py``.
"""
