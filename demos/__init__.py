"""synthkit's Gradio apps.

``demos/app.py`` composes one tab per application (``synthkit demo`` launches it); each app module
(``demos/toyscapes_explorer.py``, ...) exposes ``build_tab()`` and a standalone ``build_demo()`` that its
Hugging Face Space (``spaces/<name>/app.py``) serves. Shared input handling lives in ``demos/common.py``.
"""

import os as _os

# OpenMP threads that spin while waiting (libgomp's default) stall each other on a shared or busy 2-core machine
# (a CPU Space, a Colab VM): a 2-thread morph tick measured 624 ms with spinning and 17 ms with passive waiting
# (benchmarks/results/bench_morph_app.md). libgomp reads this when torch is first imported, so it is set here, before
# any app module imports torch; a value the user exported wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
