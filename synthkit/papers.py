"""The one table of papers: a paper's key and every file that belongs to it.

Every layer reads this table instead of keeping its own string map: the registry (``paper=`` of a checkpoint and
the paper of a loaded model), ``synthkit train <key>`` (the task), ``synthkit sample`` (the pipeline), the demo tabs
and the notebook tests. A new paper adds one ``Paper(...)`` row here (see CONTRIBUTING.md, "How to add a paper").

    key             the paper's one name: registry ``paper=``, ``synthkit train <key>``, ``synthkit.pipelines.<key>``
    model_module    its file under ``synthkit/models/`` (named after the paper's *model*, as students search for it:
                    GroupDNet is the model of the SMIS paper)
    task            ``"<model_module>:make_task"``: what the training loop builds (None: not trainable yet)
    notebook        its notebook under ``notebooks/`` (without extension)
    demos           its Gradio app modules under ``demos/``

This module holds data only and imports nothing heavy, so ``synthkit list`` stays fast.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    arxiv: str | None  # arXiv id; None for synthkit's own helpers
    model_module: str  # synthkit.models.<model_module>
    task: str | None = "make_task"  # attribute of the model module that builds the training task
    notebook: str | None = None  # notebooks/<notebook>.ipynb
    demos: tuple[str, ...] = ()  # demos.<name> modules
    status: Literal["bundled", "building", "planned", "helper"] = "bundled"  # building: code, no bundled model yet

    @property
    def pipeline_module(self) -> str:
        """``synthkit.pipelines.<key>``: the inference API of the paper (the only one demos and the CLI call)."""
        return f"synthkit.pipelines.{self.key}"

    @property
    def model_import(self) -> str:
        return f"synthkit.models.{self.model_module}"

    @property
    def task_target(self) -> str | None:
        """``"synthkit.models.<module>:make_task"`` or None."""
        return f"{self.model_import}:{self.task}" if self.task else None


PAPERS: dict[str, Paper] = {
    p.key: p
    for p in (
        Paper("toy", "a tiny unconditional DCGAN (synthkit's training-loop demo)", None, "toy",
              notebook="00_tour", status="helper"),
        Paper("smis", "Semantically Multi-modal Image Synthesis (GroupDNet), Zhu et al.", "2003.12697", "groupdnet",
              notebook="01_smis", demos=("style_morphing",)),
        Paper("pyramid", "Semantic Pyramid for Image Generation, Shocher et al.", "2003.06221", "semantic_pyramid",
              notebook="02_semantic_pyramid", demos=("semantic_inpainting",)),
        Paper("bachgan", "BachGAN: image from salient object layout, Li et al.", "2003.11690", "bachgan",
              notebook="03_bachgan", demos=("layout_to_image",)),
        Paper("controllable3d", "Towards Unsupervised Learning of Generative Models for 3D Controllable Image "
              "Synthesis, Liao et al.", "1912.05237", "controllable3d",
              notebook="04_controllable3d", demos=("controls_3d",)),
        Paper("image2stylegan", "Image2StyleGAN++, Abdal et al. (on a StyleGAN2 generator)", "1911.11544",
              "stylegan2", notebook="05_image2stylegan", demos=("embed_and_edit",)),
    )
}

# Checkpoints that belong to no paper: the offline feature backbone (synthkit.backbones, `synthkit train backbone`).
NON_PAPER_KINDS = ("backbone",)


def get(key: str) -> Paper:
    """The paper called ``key``; a KeyError naming the valid keys otherwise."""
    try:
        return PAPERS[key]
    except KeyError:
        raise KeyError(f"unknown paper {key!r}; valid: {', '.join(PAPERS)}") from None


def trainable() -> list[str]:
    """Keys that ``synthkit train`` accepts (papers whose model module has a task)."""
    return [k for k, p in PAPERS.items() if p.task and importlib.util.find_spec(p.model_import) is not None]


def of_module(module: str) -> str | None:
    """The paper key of a module path such as ``synthkit.models.groupdnet`` (or ``...groupdnet_fast``); else None."""
    parts = module.split(".")
    if len(parts) < 3 or parts[:2] != ["synthkit", "models"]:
        return None
    name = parts[2]
    for p in PAPERS.values():
        if name == p.model_module or name.startswith(p.model_module + "_"):
            return p.key
    return None
