"""Convert the official SMIS checkpoints (Seanseattle/SMIS ``latest_net_G.pth``, ``latest_net_E.pth``) to synthkit.

Key map (official -> ``synthkit.models.groupdnet.GroupDNet``; blocks head_0, G_middle_0, G_middle_1, up_0..up_3
are ``G.blocks.0`` .. ``G.blocks.6``):

=========================================================  =======================================================
official                                                   synthkit
=========================================================  =======================================================
``fc.*``, ``conv_img.*``                                   ``G.fc.*``, ``G.conv_img.*``
``<blk>.conv_{0,1,s}.weight_{orig,u,v}`` (old spectral     ``G.blocks.i.conv_*.weight`` = W / (u^T W v) (folded;
norm hook)                                                 or ``parametrizations.weight.*`` with keep_spectral_norm)
``<blk>.conv_{0,1}.bias``                                  ``G.blocks.i.conv_*.bias``
``<blk>.norm_*.param_free_norm.*`` (SyncBN buffers)        ``G.blocks.i.norm_*.param_free_norm.*`` (BatchNorm2d)
``<blk>.norm_*.mlp_shared.0.*``                            ``G.blocks.i.norm_*.mlp_shared.*``
``<blk>.norm_*.mlp_{gamma,beta}.*``                        same under ``G.blocks.i``
``up_4.*`` (ADE20K only)                                   dropped: built by ``ADE20KGenerator`` but its forward
                                                           never calls it (the call is commented out)
E: ``layer{k}.0.weight_{orig,u,v}``                        ``E.layers.{k-1}.0.weight`` (folded)
E: ``fc_mu.*``, ``fc_var.*``                               ``E.fc_mu.*``, ``E.fc_var.*``
=========================================================  =======================================================

ADE20K's ``conv_img`` is 2*ngf wide because its up_3 outputs 2*ngf; the ``ade20k`` preset's block table has that
width, so no special case is needed.

The architecture is read from the checkpoint itself (:func:`infer_config`), never from a preset: block widths and
group counts from the conv shapes, the class count and CG-Norm variant from the CG-Norm shapes (every hypothesis is
built on the meta device and must fit *every* key), fc's groups, the encoder's width and depth. What the weights do
not hold (the image size: convs work at any size) comes from the official ``opt.txt`` when it is given or lies beside
the checkpoint, else from the official default of the dataset whose class count it has, else it is an error that
says what to pass. ``ConversionReport.inferred`` records which source decided each field; a preset, when given, is
only checked against the result.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from torch import Tensor

from synthkit.convert.common import (
    ConversionError,
    ConversionReport,
    find_opt_txt,
    fold_spectral_norm,
    image_size_from_opt,
    load_official_state,
    read_opt_txt,
    check_opt_classes,
    spectral_norm_to_parametrizations,
)
from synthkit.models.groupdnet import GroupDNet, GroupDNetConfig

__all__ = [
    "OFFICIAL_BLOCK_NAMES",
    "UNUSED_OFFICIAL_MODULES",
    "convert_generator_state",
    "convert_encoder_state",
    "convert_state_dicts",
    "OFFICIAL_DATASETS",
    "infer_config",
    "load_official_model",
    "convert_smis",
]

OFFICIAL_BLOCK_NAMES = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3")
# dataset_mode -> what the official code fixes for it: generator class, class count, image size (crop, aspect),
# encoder width (hard-coded in ConvEncoder).
OFFICIAL_DATASETS = {
    "deepfashion": {"cls": "DeepFashionGenerator", "C": 8, "image_size": (256, 256), "crop": "crop_size 256, aspect 1",
                    "ndf": 256},
    "cityscapes": {"cls": "CityscapesGenerator", "C": 35, "image_size": (256, 512), "crop": "crop_size 512, aspect 2",
                   "ndf": 350},
    "ade20k": {"cls": "ADE20KGenerator", "C": 151, "image_size": (256, 256), "crop": "crop_size 256, aspect 1",
               "ndf": 604},
}
UNUSED_OFFICIAL_MODULES = {
    "up_4": "ADE20KGenerator builds up_4 (2*ngf -> ngf) but its forward never calls it (commented out)",
}


def _official_to_synthkit(key: str, keep_spectral_norm: bool) -> str:
    """Where the value of one official key lands (a folded weight_orig/_u/_v triple lands on ``X.weight``)."""
    for suffix, param_name in (
        ("weight_orig", "parametrizations.weight.original"),
        ("weight_u", "parametrizations.weight.0._u"),
        ("weight_v", "parametrizations.weight.0._v"),
    ):
        if key.endswith("." + suffix):
            key = key[: -len(suffix)] + (param_name if keep_spectral_norm else "weight")
    return key


def _convert(
    state: Mapping[str, Tensor], rename, keep_spectral_norm: bool
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Fold (or rename) spectral norm, drop the unused modules, rename every other key with ``rename``."""
    report = ConversionReport()
    for key in state:
        module = key.split(".", 1)[0]
        if module in UNUSED_OFFICIAL_MODULES:
            report.dropped[key] = UNUSED_OFFICIAL_MODULES[module]
        else:
            report.converted[key] = rename(_official_to_synthkit(key, keep_spectral_norm))
    kept = {k: v for k, v in state.items() if k not in report.dropped}
    prepared = spectral_norm_to_parametrizations(kept) if keep_spectral_norm else fold_spectral_norm(kept)
    return {rename(k): v for k, v in prepared.items()}, report


def _rename_generator_key(key: str) -> str:
    block, _, rest = key.partition(".")
    if block in OFFICIAL_BLOCK_NAMES:
        return f"blocks.{OFFICIAL_BLOCK_NAMES.index(block)}.{rest.replace('mlp_shared.0.', 'mlp_shared.')}"
    return key  # fc.*, conv_img.*


def _rename_encoder_key(key: str) -> str:
    match = re.match(r"^layer(\d+)\.(.*)$", key)
    return f"layers.{int(match.group(1)) - 1}.{match.group(2)}" if match else key  # fc_mu.*, fc_var.*


def convert_generator_state(
    state: Mapping[str, Tensor], keep_spectral_norm: bool = False
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Official generator state_dict -> keys of ``GroupDNetGenerator`` (without the ``G.`` prefix)."""
    return _convert(state, _rename_generator_key, keep_spectral_norm)


def convert_encoder_state(
    state: Mapping[str, Tensor], keep_spectral_norm: bool = False
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Official ``ConvEncoder`` state_dict -> keys of ``GroupDNetEncoder`` (without the ``E.`` prefix)."""
    return _convert(state, _rename_encoder_key, keep_spectral_norm)


def convert_state_dicts(
    generator_state: Mapping[str, Tensor],
    encoder_state: Mapping[str, Tensor] | None = None,
    keep_spectral_norm: bool = False,
) -> tuple[dict[str, Tensor], ConversionReport]:
    """Both official state_dicts -> one ``GroupDNet`` state_dict (``G.*`` and ``E.*``) and a report."""
    g_state, report = convert_generator_state(generator_state, keep_spectral_norm)
    state = {f"G.{k}": v for k, v in g_state.items()}
    report.converted = {k: f"G.{v}" for k, v in report.converted.items()}
    if encoder_state is not None:
        e_state, e_report = convert_encoder_state(encoder_state, keep_spectral_norm)
        state.update({f"E.{k}": v for k, v in e_state.items()})
        report.converted.update({f"E:{k}": f"E.{v}" for k, v in e_report.converted.items()})
    return state, report



_GENERATOR_MODULES = {"fc", "conv_img", *OFFICIAL_BLOCK_NAMES, *UNUSED_OFFICIAL_MODULES}
_ARCH_FIELDS = ("num_classes", "block_channels", "block_groups", "cgnorm", "cgnorm_hidden", "instance_edge",
                "latent_channels", "fc_groups", "image_size")


def _shapes(state: Mapping[str, Tensor], rename, what: str, known_modules=None) -> tuple[dict, dict]:
    """synthkit key (spectral norm folded: ``X.weight``) -> shape, and synthkit key -> official key (for messages)."""
    shapes, official = {}, {}
    for key, value in state.items():
        module = key.split(".", 1)[0]
        if module in UNUSED_OFFICIAL_MODULES:
            continue
        if known_modules is not None and module not in known_modules:
            raise ConversionError(
                f"{what}: key {key!r} belongs to no module of the official SMIS generators "
                f"({', '.join(sorted(known_modules - set(UNUSED_OFFICIAL_MODULES)))}); is this an SMIS latest_net_G.pth?"
            )
        if key.endswith((".weight_u", ".weight_v")):
            continue
        new = rename(_official_to_synthkit(key, keep_spectral_norm=False))
        shapes[new], official[new] = tuple(value.shape), key
    return shapes, official


def _need(shapes: dict, key: str, official_name: str, what: str) -> tuple[int, ...]:
    if key not in shapes:
        raise ConversionError(f"{what}: missing key {official_name!r}; the checkpoint is incomplete or not an official "
                              "SMIS generator")
    return shapes[key]


def _block_table(shapes: dict, what: str) -> tuple[tuple[int, ...], list[int], list[int]]:
    """fc's shape, and each block's output width and group count, from the conv shapes."""
    fc = _need(shapes, "fc.weight", "fc.weight", what)
    fin, widths, groups = fc[0], [], []
    for i, name in enumerate(OFFICIAL_BLOCK_NAMES):
        c0 = _need(shapes, f"blocks.{i}.conv_0.weight", f"{name}.conv_0.weight_orig", what)
        c1 = _need(shapes, f"blocks.{i}.conv_1.weight", f"{name}.conv_1.weight_orig", what)
        fmid, fout = c0[0], c1[0]
        if c1[1] < 1 or fmid % c1[1]:
            raise ConversionError(f"{what}: {name}.conv_1 has shape {list(c1)}, which no group count of a "
                                  f"{fmid}-channel input gives")
        g = fmid // c1[1]
        if c0[1] * g != fin:
            raise ConversionError(f"{what}: {name}.conv_0 takes {c0[1] * g} channels ({list(c0)}, {g} groups) but the "
                                  f"layer before it gives {fin}")
        widths.append(fout)
        groups.append(g)
        fin = fout
    return fc, widths, groups


def _encoder_table(shapes: dict, what: str) -> tuple[int, int, int]:
    """(ndf, number of stride-2 layers, output channels of fc_mu) of an official ConvEncoder."""
    n = 0
    while f"layers.{n}.0.weight" in shapes:
        n += 1
    if n == 0:
        raise ConversionError(f"{what}: no 'layer1.0.weight_orig' key; is this the SMIS encoder latest_net_E.pth?")
    mu = _need(shapes, "fc_mu.weight", "fc_mu.weight", what)
    return shapes["layers.0.0.weight"][0], n, mu[0]


def _meta_shapes(config: GroupDNetConfig, with_encoder: bool) -> dict:
    import torch

    with torch.device("meta"):
        model = GroupDNet(config, with_encoder=with_encoder)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _mismatches(expected: dict, got: dict, official: dict) -> list[str]:
    out = [f"missing key {k!r}" for k in sorted(set(expected) - set(got))]
    out += [f"unexpected key {official.get(k, k)!r}" for k in sorted(set(got) - set(expected))]
    out += [f"{official.get(k, k)}: checkpoint {list(got[k])} vs {list(expected[k])}"
            for k in sorted(set(got) & set(expected)) if got[k] != expected[k]]
    return out


def infer_config(
    generator_state: Mapping[str, Tensor],
    encoder_state: Mapping[str, Tensor] | None = None,
    opt: Mapping | None = None,
    overrides: Mapping | None = None,
    report: ConversionReport | None = None,
    what: str = "SMIS generator",
) -> GroupDNetConfig:
    """The ``GroupDNetConfig`` of an official SMIS checkpoint, read from its keys and shapes (and ``opt``).

    ``opt``: the official options (:func:`~synthkit.convert.common.read_opt_txt`); checked against the shapes and
    used for what they do not hold (image size). ``overrides``: config fields to take as given (e.g.
    ``{"image_size": (256, 512)}``, ``{"cgnorm": "ade20k"}``); they are checked too. ``report.inferred`` gets one entry
    per field with its source. Raises :class:`ConversionError` naming the field or key when the checkpoint fits no
    architecture, fits several (and nothing says which), or disagrees with ``opt``.
    """
    report = report if report is not None else ConversionReport()
    opt, overrides = dict(opt or {}), dict(overrides or {})
    unknown = set(overrides) - set(GroupDNetConfig.__dataclass_fields__)
    if unknown:
        raise ConversionError(f"unknown GroupDNetConfig field(s) {sorted(unknown)}; valid: {', '.join(_ARCH_FIELDS)}")
    shapes, official = _shapes(generator_state, _rename_generator_key, what, _GENERATOR_MODULES)
    fc, widths, groups = _block_table(shapes, what)
    e_shapes, e_official, enc = {}, {}, None
    if encoder_state is not None:
        e_shapes, e_official = _shapes(encoder_state, _rename_encoder_key, "SMIS encoder")
        enc = _encoder_table(e_shapes, "SMIS encoder")
    all_shapes = {f"G.{k}": v for k, v in shapes.items()} | {f"E.{k}": v for k, v in e_shapes.items()}
    all_official = {f"G.{k}": v for k, v in official.items()} | {f"E.{k}": f"E:{v}" for k, v in e_official.items()}

    # ---- hypotheses for (CG-Norm variant, C) from head_0's CG-Norm, each checked against every key ----------------
    m = _need(shapes, "blocks.0.norm_0.mlp_shared.weight", "head_0.norm_0.mlp_shared.0.weight", what)
    g0 = groups[0]
    hyps = [("deepfashion", m[1] * g0, f"mlp_shared takes C/G = {m[1]} channels per group, G = {g0}")]
    if m[1] == 2 and m[0] % g0 == 0:
        hyps.append(("cityscapes", m[0] // g0, f"mlp_shared: [C*G = {m[0]}, 2 (mask, edge)], G = {g0}"))
    if m[1] == 1:
        for C, why in ((m[0] // 2, "hidden 2C"), (m[0] // g0, "hidden C*G")):
            if C >= 1 and ("ade20k", C) not in [(v, c) for v, c, _ in hyps]:
                hyps.append(("ade20k", C, f"mlp_shared: [{why} = {m[0]}, 1 channel per group]"))
    if "cgnorm" in overrides:
        hyps = [h for h in hyps if h[0] == overrides["cgnorm"]]
    if "num_classes" in overrides:
        hyps = [h for h in hyps if h[1] == overrides["num_classes"]]
    mode = opt.get("dataset_mode")
    fits, rejected = [], []
    for variant, C, why in hyps:
        if enc is not None:
            K = enc[2] // C if enc[2] % C == 0 else None
        else:
            K = overrides.get("latent_channels", 8)
        if not K or (C * K) % fc[1]:
            rejected.append(f"{variant} with C={C}: fc.weight {list(fc)} fits no {K}-channel code per class")
            continue
        fc_groups = C * K // fc[1]
        fields = dict(num_classes=C, image_size=(64, 64), block_channels=tuple(widths), block_groups=tuple(groups),
                      cgnorm=variant, instance_edge=variant == "cityscapes", latent_channels=K,
                      fc_groups=None if fc_groups == C else fc_groups, spectral_norm=False)
        if variant == "deepfashion":
            fields["cgnorm_hidden"] = m[0]
        if enc is not None:
            fields["encoder_channels"], fields["encoder_input_size"] = enc[0], (2 ** enc[1], 2 ** enc[1])
        else:
            ndf = OFFICIAL_DATASETS[variant]["ndf"]
            fields["encoder_channels"] = ndf if ndf % C == 0 else C
        try:
            config = GroupDNetConfig(**fields)
        except ValueError as err:
            rejected.append(f"{variant} with C={C}: {err}")
            continue
        problems = _mismatches(_meta_shapes(config, enc is not None), all_shapes, all_official)
        if problems:
            rejected.append(f"{variant} with C={C}: {'; '.join(problems[:3])}{' ...' if len(problems) > 3 else ''}")
        else:
            fits.append((config, why))
    if mode is not None:
        if mode not in OFFICIAL_DATASETS:
            raise ConversionError(f"opt.txt: dataset_mode {mode!r} is not one SMIS builds a generator for "
                                  f"({', '.join(OFFICIAL_DATASETS)})")
        if not any(c.cgnorm == mode for c, _ in fits):
            shapes_say = ", ".join(f"{c.cgnorm} (C={c.num_classes})" for c, _ in fits) or "nothing"
            raise ConversionError(f"opt.txt says dataset_mode {mode!r} but the checkpoint's CG-Norm shapes fit "
                                  f"{shapes_say}: is this opt.txt from the run that saved {what}?")
        fits = [f for f in fits if f[0].cgnorm == mode]
    if not fits:
        raise ConversionError(f"{what}: the shapes fit no SMIS generator; tried\n  " + "\n  ".join(rejected))
    if len(fits) > 1:
        options = "; ".join(f"cgnorm={c.cgnorm}, num_classes={c.num_classes}" for c, _ in fits)
        raise ConversionError(
            f"{what}: the shapes alone are ambiguous: the CG-Norm variant and class count could be {options}. "
            "Pass the run's opt.txt (--opt; its dataset_mode decides) or --set cgnorm=NAME"
        )
    config, why = fits[0]
    C, variant = config.num_classes, config.cgnorm
    info = OFFICIAL_DATASETS[variant]
    src = "opt.txt: dataset_mode" if mode else "shapes"
    report.decide("official_class", info["cls"] if mode or C == info["C"] else f"{info['cls']}-like", src)
    report.decide("cgnorm", variant, f"{src} ({why})" if not mode else src)
    report.decide("num_classes", C, f"shapes: {why}")
    report.decide("block_channels", config.block_channels, "shapes: conv_1 output widths of head_0 .. up_3")
    report.decide("block_groups", config.block_groups, "shapes: conv_0 / conv_1 in-channels per group")
    if variant == "deepfashion":
        report.decide("cgnorm_hidden", config.cgnorm_hidden, "shapes: head_0.norm_0.mlp_shared.0.weight out-channels")
    report.decide("instance_edge", config.instance_edge,
                  "shapes: the cityscapes CG-Norm reads [mask, edge] pairs" if config.instance_edge
                  else "shapes: CG-Norm reads one channel per class")
    report.decide("latent_channels", config.latent_channels,
                  "shapes: encoder fc_mu" if enc else "official: 8 channels per class (a generator alone does not "
                                                       "store it)")
    report.decide("fc_groups", config.input_groups,
                  f"shapes: fc.weight {list(fc)} with {C} x {config.latent_channels} input channels")

    # ---- opt.txt cross-checks --------------------------------------------------------------------------------------
    if opt:
        edge_counted = not (opt.get("model") == "smis" and mode == "cityscapes") and variant != "cityscapes"
        check_opt_classes(opt, C, edge_counted)
        if "ngf" in opt:
            final = widths[-1] // (2 if variant == "ade20k" else 1)
            if int(opt["ngf"]) != final:
                raise ConversionError(f"opt.txt gives ngf {opt['ngf']} but the checkpoint's up_3 is {widths[-1]} wide "
                                      f"(ngf {final}): is this opt.txt from the same run?")
            report.decide("ngf", final, "shapes (checked against opt.txt: ngf)")
        if opt.get("num_upsampling_layers", "more") != "more":
            raise ConversionError(f"opt.txt: num_upsampling_layers {opt['num_upsampling_layers']!r}: synthkit's "
                                  "GroupDNet has the official default 'more' (an upsampling before every block after "
                                  "head_0) only")

    # ---- what the weights do not hold: the image size ---------------------------------------------------------------
    if "image_size" in overrides:
        size = tuple(int(v) for v in overrides["image_size"])
        report.decide("image_size", size, "given (--image-size / overrides)")
    elif opt and (opt_size := image_size_from_opt(opt)) is not None:
        size = opt_size
        report.decide("image_size", size, f"opt.txt: crop_size {opt['crop_size']}, aspect_ratio "
                                          f"{opt.get('aspect_ratio', 1.0)}, num_upsampling_layers 'more'")
    elif C == info["C"]:
        size = info["image_size"]
        report.decide("image_size", size, f"default of the official {info['cls']} ({info['crop']}): the weights do "
                                          "not store it; pass --opt or --image-size if the run used another")
    else:
        raise ConversionError(
            f"{what}: the image size is not stored in the weights (convs work at any size) and {C} classes match no "
            f"official dataset whose default could stand in; pass the run's opt.txt (--opt) or --image-size HxW "
            "(a multiple of 64: the start grid is 1/64 of it)"
        )
    fields = {"image_size": size}
    if enc is not None:
        lat = (size[0] // 64, size[1] // 64)
        crop = (lat[0] << enc[1], lat[1] << enc[1])
        fields["encoder_input_size"] = None if crop == size else crop
        report.decide("encoder_channels", enc[0], "shapes: encoder layer1 out-channels")
        report.decide("encoder_input_size", crop,
                      f"shapes: {enc[1]} stride-2 encoder layers to the {lat[0]}x{lat[1]} latent grid")
    for key, value in overrides.items():
        if key not in fields and key not in ("cgnorm", "num_classes", "latent_channels"):
            fields[key] = tuple(value) if isinstance(value, list) else value
            report.decide(key, fields[key], "given (overrides)")
    from dataclasses import replace

    try:
        config = replace(config, **fields)
    except ValueError as err:
        raise ConversionError(f"{what}: {err}") from None
    problems = _mismatches(_meta_shapes(config, enc is not None), all_shapes, all_official)
    if problems:
        raise ConversionError(f"{what}: the given fields do not fit the checkpoint: {'; '.join(problems[:4])}")
    return config


def _check_preset(config: GroupDNetConfig, preset: str) -> None:
    expected = GroupDNetConfig.from_preset(preset)
    diff = [f"{f}: checkpoint {getattr(config, f)!r}, preset {getattr(expected, f)!r}"
            for f in _ARCH_FIELDS if getattr(config, f) != getattr(expected, f)]
    if config.input_groups != expected.input_groups:
        diff.append(f"fc groups: checkpoint {config.input_groups}, preset {expected.input_groups}")
    if diff:
        raise ConversionError(f"the checkpoint is not the {preset!r} preset (--preset is only a check; leave it out "
                              "to convert what the checkpoint holds):\n  " + "\n  ".join(diff))


def load_official_model(
    generator_state: Mapping[str, Tensor],
    encoder_state: Mapping[str, Tensor] | None = None,
    config: GroupDNetConfig | str | None = None,
    keep_spectral_norm: bool = False,
    *,
    opt: Mapping | None = None,
    overrides: Mapping | None = None,
) -> tuple[GroupDNet, ConversionReport]:
    """A ``GroupDNet`` holding the official weights, loaded strictly, in eval mode, and the report.

    ``config``: None (read the architecture from the checkpoint, :func:`infer_config`), a preset name (read it, then
    check it is that preset), or a ``GroupDNetConfig`` to use as it is. ``opt`` / ``overrides``: see
    :func:`infer_config`.
    """
    from dataclasses import replace

    report = ConversionReport()
    if not isinstance(config, GroupDNetConfig):
        preset = config
        config = infer_config(generator_state, encoder_state, opt=opt, overrides=overrides, report=report)
        if preset is not None:
            _check_preset(config, preset)
    # Folded weights need a model without spectral norm; kept ones need it.
    config = replace(config, spectral_norm=keep_spectral_norm)
    state, converted = convert_state_dicts(generator_state, encoder_state, keep_spectral_norm)
    report.converted, report.dropped = converted.converted, converted.dropped
    model = GroupDNet(config, with_encoder=encoder_state is not None)
    reference = model.state_dict()
    problems = _mismatches({k: tuple(v.shape) for k, v in reference.items()},
                           {k: tuple(v.shape) for k, v in state.items()}, {})
    if problems:
        raise ConversionError("the official checkpoint does not fit this GroupDNetConfig:\n  " + "\n  ".join(problems[:8]))
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()}, strict=True)
    return model.eval(), report


def convert_smis(
    generator_pth: str | Path,
    encoder_pth: str | Path | None = None,
    preset: str | None = None,
    out_dir: str | Path = "smis-converted",
    keep_spectral_norm: bool = False,
    opt_txt: str | Path | None = None,
    overrides: Mapping | None = None,
) -> Path:
    """Official ``latest_net_G.pth`` (+ ``latest_net_E.pth``) -> synthkit folder; prints what decided each field.

    The architecture is read from the checkpoint (:func:`infer_config`); ``opt_txt`` (default: ``opt.txt`` beside
    the generator, when present) adds what the weights do not hold; ``preset`` is only a check. Writes
    ``config.json``, ``model.safetensors``, ``README.md`` (``GroupDNet.save_pretrained``) and ``conversion.json``
    (official key -> synthkit key, dropped keys with reasons, the source of every inferred field). Load it with
    ``synthkit.load(out_dir)``.
    """
    g_state = load_official_state(generator_pth, what="SMIS generator latest_net_G.pth")
    e_state = load_official_state(encoder_pth, what="SMIS encoder latest_net_E.pth") if encoder_pth else None
    opt_path = Path(opt_txt) if opt_txt else find_opt_txt(generator_pth)
    opt = read_opt_txt(opt_path) if opt_path else None
    try:
        model, report = load_official_model(g_state, e_state, preset, keep_spectral_norm, opt=opt, overrides=overrides)
    except ConversionError as err:
        raise ConversionError(f"{generator_pth}: {err}") from None
    if opt_path:
        report.decide("opt.txt", str(opt_path), "given" if opt_txt else "found beside the generator")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    official_class = report.inferred.get("official_class", {}).get("value", "SMIS")
    model.save_pretrained(
        out,
        card={
            "description": f"SMIS / GroupDNet ({official_class}, {model.config.num_classes} classes, "
                           f"{model.config.image_size[0]}x{model.config.image_size[1]}) converted from an official "
                           "Seanseattle/SMIS checkpoint.",
            "license": "cc-by-nc-sa-4.0",
            "paper": "smis",
            "paper_url": "https://arxiv.org/abs/2003.12697",
            "notes": "Weights by the SMIS authors or whoever trained this run with the official code (CC BY-NC-SA "
                     "4.0). Architecture read from the checkpoint; dropped keys and the source of every field: see "
                     "conversion.json.",
        },
    )
    (out / "conversion.json").write_text(report.to_json())
    print("architecture read from the checkpoint:\n" + report.table())
    for key, reason in report.dropped.items():
        print(f"dropped {key}: {reason}")
    return out
