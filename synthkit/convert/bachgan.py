"""Convert the official BachGAN generator (Cold-Winter/BachGAN ``*_net_G.pth``) into a synthkit folder.

The official checkpoint is a CPU ``state_dict`` of ``SPADEGenerator`` built with ``--retrival_memory``. Key map
(official -> ``synthkit.models.bachgan.BachGANGenerator``):

===========================================  ==========================================================
official                                     synthkit
===========================================  ==========================================================
``encode_shared.0.*``, ``memory_shared.0.*``  ``fusion.encode_shared.0.*``, ``fusion.memory_shared.0.*``
``<blk>.conv_{0,1,s}.weight_orig``             ``<blk>.conv_*.parametrizations.weight.original``
``<blk>.conv_{0,1,s}.weight_u`` / ``_v``       ``<blk>.conv_*.parametrizations.weight.0._u`` / ``._v``
``<blk>.norm_*.param_free_norm.*`` (SyncBN)    same key (``BatchNorm2d(affine=False)``)
everything else (``fc``, ``mlp_*``, ``conv_img``, ``conv_seg``, ``conv_*.bias``)  same key
``conv1_1``, ``conv1_1_memory``, ``conv1_2``,  dropped: the commented-out FCN fusion; the forward pass never
``conv2_1``, ``conv2_2``, ``upscore``          uses them (5.23M parameters in the Cityscapes checkpoint)
===========================================  ==========================================================

In eval mode the parametrised spectral norm computes sigma = u^T W v from the stored u, v exactly like the old
hook, so the converted generator reproduces the official outputs (``tests/test_parity_bachgan.py``, fixture
``bachgan_tiny``).

The architecture is read from the checkpoint (:func:`infer_config`): the class count from ``fc``, ngf from ``fc``
(16 ngf) and ``conv_img``, SPADE's hidden width and kernel from ``mlp_shared``, 'most' upsampling from the presence of
``up_4``. The weights do not hold the image size, nor 'normal' vs 'more' upsampling (which only sets the start grid):
those come from the official ``opt.txt`` (given, or found beside the checkpoint), else from the official dataset
whose class count the checkpoint has (35: Cityscapes, 512x256, 'more'; 151: ADE20K, 256x256, 'normal'), else it is
an error saying what to pass. The retrieval memory size is 3: the official forward hard-codes it
(``actv.view([-1, 4], ...)``: the box layout and 3 retrieved maps).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

from synthkit.convert.common import (
    ConversionError,
    ConversionReport,
    find_opt_txt,
    image_size_from_opt,
    load_official_state,
    read_opt_txt,
    check_opt_classes,
    spectral_norm_to_parametrizations,
)
from synthkit.models.bachgan import BachGANConfig, BachGANGenerator

__all__ = ["UNUSED_OFFICIAL_MODULES", "OFFICIAL_DATASETS", "official_key_to_synthkit", "infer_config",
           "convert_state_dict", "load_official_generator", "convert_bachgan"]

# Modules of the official generator that its forward pass never calls (the FCN fusion left commented out).
UNUSED_OFFICIAL_MODULES = {
    "conv1_1": "FCN fusion leftover (box layout encoder), commented out in SPADEGenerator.forward",
    "conv1_1_memory": "FCN fusion leftover (layout + memory encoder), commented out in SPADEGenerator.forward",
    "conv1_2": "FCN fusion leftover, commented out in SPADEGenerator.forward",
    "conv2_1": "FCN fusion leftover, commented out in SPADEGenerator.forward",
    "conv2_2": "FCN fusion leftover, commented out in SPADEGenerator.forward",
    "upscore": "FCN fusion leftover (ConvTranspose2d 128->35, k32 s16), commented out in SPADEGenerator.forward",
}

# class count -> the official dataset's settings (BG:data/*_dataset.py, run_scripts.txt)
OFFICIAL_DATASETS = {
    35: {"name": "Cityscapes", "height": 256, "width": 512, "num_upsampling_layers": "more"},
    151: {"name": "ADE20K", "height": 256, "width": 256, "num_upsampling_layers": "normal"},
}
_BLOCKS = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3", "up_4")
_KNOWN_MODULES = {"fc", "conv_img", "conv_seg", "encode_shared", "memory_shared", *_BLOCKS, *UNUSED_OFFICIAL_MODULES}
_ARCH_FIELDS = ("num_classes", "base_channels", "num_upsampling_layers", "spade_hidden", "spade_kernel", "height",
                "width", "num_retrieved")


def official_key_to_synthkit(key: str) -> str | None:
    """The synthkit name of one official key, or None for the keys of unused modules."""
    module = key.split(".", 1)[0]
    if module in UNUSED_OFFICIAL_MODULES:
        return None
    if module in ("encode_shared", "memory_shared"):
        key = "fusion." + key
    (key,) = spectral_norm_to_parametrizations({key: None})  # X.weight_orig -> X.parametrizations.weight.original
    return key


def _check_config(state: Mapping[str, Tensor], config: BachGANConfig) -> None:
    """Raise a clear error when the checkpoint's widths are not those of the given config."""
    if "fc.weight" not in state or "conv_img.weight" not in state:
        raise ConversionError(
            "this does not look like a BachGAN generator state_dict (no fc.weight / conv_img.weight); pass the "
            "official *_net_G.pth"
        )
    num_classes, base = state["fc.weight"].shape[1], state["fc.weight"].shape[0] // 16
    if (num_classes, base) != (config.num_classes, config.base_channels):
        raise ConversionError(
            f"checkpoint has {num_classes} classes and base width (ngf) {base}, but the config has "
            f"{config.num_classes} and {config.base_channels}; leave the config out to read it from the checkpoint"
        )


def infer_config(
    state: Mapping[str, Tensor], opt: Mapping | None = None, overrides: Mapping | None = None,
    report: ConversionReport | None = None, what: str = "BachGAN generator",
) -> BachGANConfig:
    """The ``BachGANConfig`` of an official BachGAN generator, read from its keys and shapes (and ``opt``).

    ``opt``: the official options (``read_opt_txt``), checked against the shapes and used for the image size and
    upsampling mode; ``overrides``: config fields to take as given (checked too). ``report.inferred`` records the
    source of each field. Raises :class:`ConversionError` naming the key or field.
    """
    report = report if report is not None else ConversionReport()
    opt, overrides = dict(opt or {}), dict(overrides or {})
    unknown = set(overrides) - set(BachGANConfig.__dataclass_fields__)
    if unknown:
        raise ConversionError(f"unknown BachGANConfig field(s) {sorted(unknown)}; valid: {', '.join(_ARCH_FIELDS)}")
    for key in state:
        if key.split(".", 1)[0] not in _KNOWN_MODULES:
            raise ConversionError(f"{what}: key {key!r} belongs to no module of the official BachGAN SPADEGenerator; "
                                  "is this a BachGAN *_net_G.pth (retrieval-memory mode)?")
    for key in ("fc.weight", "conv_img.weight", "head_0.norm_0.mlp_shared.0.weight", "encode_shared.0.weight"):
        if key not in state:
            raise ConversionError(f"{what}: missing key {key!r}; the checkpoint is incomplete or not an official "
                                  "BachGAN generator in retrieval-memory mode")
    fc, img, shared = (tuple(state[k].shape) for k in ("fc.weight", "conv_img.weight",
                                                         "head_0.norm_0.mlp_shared.0.weight"))
    C = report.decide("num_classes", fc[1], f"shapes: fc.weight {list(fc)} in-channels")
    if fc[0] % 16:
        raise ConversionError(f"{what}: fc.weight has {fc[0]} output channels, not 16 x ngf")
    ngf = report.decide("base_channels", fc[0] // 16, f"shapes: fc.weight out-channels {fc[0]} = 16 x ngf")
    most = any(k.startswith("up_4.") for k in state)
    expected_img = ngf // 2 if most else ngf
    if img[1] != expected_img:
        raise ConversionError(f"{what}: conv_img takes {img[1]} channels, but ngf {ngf} gives {expected_img}"
                              f"{' (up_4 present: most)' if most else ''}")
    report.decide("spade_hidden", shared[0], "shapes: head_0.norm_0.mlp_shared.0.weight out-channels")
    report.decide("spade_kernel", shared[2], "shapes: mlp_shared kernel size")
    report.decide("num_retrieved", 3, "official: SPADEGenerator.forward hard-codes the box layout + 3 retrieved maps")
    if opt:
        check_opt_classes(opt, C)
        if "ngf" in opt and int(opt["ngf"]) != ngf:
            raise ConversionError(f"opt.txt gives ngf {opt['ngf']} but the checkpoint's fc is {fc[0]} wide (ngf {ngf}): "
                                  "is this opt.txt from the same run?")
        if opt.get("retrival_memory") is False:
            raise ConversionError("opt.txt: retrival_memory is False; synthkit converts the retrieval-memory generator "
                                  "(BachGAN's --retrival_memory) only")
    official = OFFICIAL_DATASETS.get(C)
    # upsampling mode: up_4 says 'most'; 'normal' vs 'more' only changes the start grid
    if most:
        mode = report.decide("num_upsampling_layers", "most", "shapes: up_4 is present")
        if opt.get("num_upsampling_layers", "most") != "most":
            raise ConversionError(f"opt.txt says num_upsampling_layers {opt['num_upsampling_layers']!r} but the "
                                  "checkpoint has up_4 ('most')")
    elif "num_upsampling_layers" in overrides:
        mode = report.decide("num_upsampling_layers", overrides["num_upsampling_layers"], "given (overrides)")
    elif "num_upsampling_layers" in opt:
        mode = report.decide("num_upsampling_layers", opt["num_upsampling_layers"], "opt.txt: num_upsampling_layers")
    elif official:
        mode = report.decide("num_upsampling_layers", official["num_upsampling_layers"],
                             f"default of the official {official['name']} run ({C} classes): the weights do not store "
                             "'normal' vs 'more'")
    else:
        raise ConversionError(f"{what}: 'normal' vs 'more' upsampling is not stored in the weights and {C} classes match "
                              "no official dataset: pass the run's opt.txt (--opt) or --set num_upsampling_layers=more")
    if mode == "most" and "up_4.conv_0.bias" not in state:
        raise ConversionError(f"{what}: num_upsampling_layers 'most' needs up_4, which the checkpoint lacks")
    if "height" in overrides or "width" in overrides:
        if not {"height", "width"} <= set(overrides):
            raise ConversionError("give both height and width (--image-size HxW)")
        size, src = (int(overrides["height"]), int(overrides["width"])), "given (--image-size / overrides)"
    elif opt and (opt_size := image_size_from_opt({**opt, "num_upsampling_layers": mode})) is not None:
        size = opt_size
        src = f"opt.txt: crop_size {opt['crop_size']}, aspect_ratio {opt.get('aspect_ratio', 1.0)}, {mode}"
    elif official:
        size, src = (official["height"], official["width"]), f"default of the official {official['name']} run"
    else:
        raise ConversionError(f"{what}: the image size is not stored in the weights and {C} classes match no official "
                              "dataset: pass the run's opt.txt (--opt) or --image-size HxW")
    report.decide("height", size[0], src)
    report.decide("width", size[1], src)
    fields = {k: report.inferred[k]["value"] for k in _ARCH_FIELDS}
    if official is None:
        fields["thing_classes"] = report.decide("thing_classes", tuple(range(1, C)),
                                                "unknown for a custom dataset: every class but 0 may be a box")
    elif C == 151:
        fields["thing_classes"] = tuple(range(1, 151))
    for key, value in overrides.items():
        if key not in ("height", "width", "num_upsampling_layers"):
            fields[key] = report.decide(key, tuple(value) if isinstance(value, list) else value, "given (overrides)")
    try:
        return BachGANConfig(**fields)
    except ValueError as err:
        raise ConversionError(f"{what}: {err}") from None


def convert_state_dict(
    state: Mapping[str, Tensor], config: BachGANConfig
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Official generator state_dict -> (synthkit state_dict, report). Raises on missing or misshapen keys."""
    _check_config(state, config)
    with torch.device("meta"):  # names and shapes only, no memory or init work
        reference = BachGANGenerator(config).state_dict()
    report = ConversionReport()
    out: dict[str, Tensor] = {}
    unexpected = []
    for key, value in state.items():
        new = official_key_to_synthkit(key)
        if new is None:
            report.dropped[key] = UNUSED_OFFICIAL_MODULES[key.split(".", 1)[0]]
            continue
        if new not in reference:
            unexpected.append(key)
            continue
        if tuple(reference[new].shape) != tuple(value.shape):
            raise ConversionError(
                f"official key {key} has shape {tuple(value.shape)}, synthkit {new} expects "
                f"{tuple(reference[new].shape)} (num_upsampling_layers, spade_hidden?)"
            )
        out[new] = value.to(dtype=reference[new].dtype)
        report.converted[key] = new
    missing = sorted(set(reference) - set(out))
    if unexpected or missing:
        raise ConversionError(
            f"checkpoint does not match BachGANGenerator({config.num_upsampling_layers!r} upsampling): "
            f"unexpected official keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}, "
            f"missing synthkit keys {missing[:8]}{'...' if len(missing) > 8 else ''}"
        )
    return out, report


def load_official_generator(
    state: Mapping[str, Tensor], config: BachGANConfig | str | None = None, *, opt: Mapping | None = None,
    overrides: Mapping | None = None,
) -> tuple[BachGANGenerator, ConversionReport]:
    """A synthkit generator holding the official weights (eval mode), and the report.

    ``config``: None (read it from the checkpoint, :func:`infer_config`), a preset name (read, then checked against
    that preset), or a ``BachGANConfig`` used as it is.
    """
    inferred = ConversionReport()
    if not isinstance(config, BachGANConfig):
        preset = config
        config = infer_config(state, opt=opt, overrides=overrides, report=inferred)
        if preset is not None:
            expected = BachGANConfig.from_preset(preset)
            diff = [f"{f}: checkpoint {getattr(config, f)!r}, preset {getattr(expected, f)!r}"
                    for f in _ARCH_FIELDS if getattr(config, f) != getattr(expected, f)]
            if diff:
                raise ConversionError(f"the checkpoint is not the {preset!r} preset (--preset is only a check; leave "
                                      "it out to convert what the checkpoint holds):\n  " + "\n  ".join(diff))
    new_state, report = convert_state_dict(state, config)
    report.inferred = inferred.inferred
    G = BachGANGenerator(config)
    G.load_state_dict(new_state, strict=True)
    return G.eval(), report


def convert_bachgan(
    generator_pth: str | Path, preset: str | None = None, out_dir: str | Path = "bachgan-converted",
    overrides: dict | None = None, opt_txt: str | Path | None = None,
) -> Path:
    """Official ``*_net_G.pth`` -> synthkit folder (config.json, model.safetensors, conversion.json).

    The architecture is read from the checkpoint (:func:`infer_config`); ``opt_txt`` (default: ``opt.txt`` beside the
    checkpoint, when present) adds the image size; ``preset`` (``cityscapes``, ``ade20k``) is only a check.
    Dropped keys and their reasons, and the source of every field, are written to ``conversion.json`` and printed.
    """
    what = "BachGAN generator (city_model/60_net_G.pth or ade_model/150_net_G.pth from BachGan.zip)"
    opt_path = Path(opt_txt) if opt_txt else find_opt_txt(generator_pth)
    opt = read_opt_txt(opt_path) if opt_path else None
    try:
        G, report = load_official_generator(load_official_state(generator_pth, what=what), preset, opt=opt,
                                            overrides=overrides)
    except ConversionError as err:
        raise ConversionError(f"{generator_pth}: {err}") from None
    if opt_path:
        report.decide("opt.txt", str(opt_path), "given" if opt_txt else "found beside the generator")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = OFFICIAL_DATASETS.get(G.config.num_classes, {}).get("name", f"{G.config.num_classes} classes")
    card = {
        "model_name": f"BachGAN {name} {G.config.height}x{G.config.width} (official code)",
        "paper": "bachgan",
        "paper_url": "https://arxiv.org/abs/2003.11690",
        "license": "cc-by-nc-sa-4.0",  # the authors' weights and code are CC BY-NC-SA 4.0
        "notes": f"Converted from {Path(generator_pth).name} with `synthkit convert bachgan`; the unused FCN "
                 "modules were dropped (see conversion.json).",
    }
    G.save_pretrained(out, card=card)
    (out / "conversion.json").write_text(report.to_json())
    print("architecture read from the checkpoint:\n" + report.table())
    for key, reason in report.dropped.items():
        print(f"dropped {key}: {reason}")
    return out
