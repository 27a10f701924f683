"""The `synthkit` command line.

    synthkit list                                   named checkpoints
    synthkit demo [--port P] [--share]              the tabbed Gradio app on the bundled checkpoints
    synthkit data preview toyscapes --n 16 --size 128 --out grid.png
    synthkit data preview toyshapes3d --n 16 --size 64 --out shapes.png
    synthkit train <model> --preset P [--config FILE.json] [--set k=v ...] [--steps N] [--out DIR] [--dry-run]
    synthkit sample <model> [--n 8] [--seed 0] --out grid.png
    synthkit convert smis|bachgan|stylegan2 ... --out DIR   official checkpoints -> synthkit folder
    synthkit bachgan build-index --n N --size S --out index.safetensors
    synthkit push <name | folder> [ORG/NAME] [--dry-run]
    synthkit space list | build NAME --out DIR [--wheel W | --release] | deploy NAME [--repo ORG/NAME] [--dry-run]

User mistakes (unknown names, bad values, missing files) print one line starting with "error:" and exit with
status 2; a traceback means a bug in synthkit. Heavy modules are imported inside each command, so `--help` is fast.
"""
from __future__ import annotations

import argparse
import sys


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def _cmd_list(args: argparse.Namespace) -> None:
    from synthkit import registry

    rows = registry.list_models(verbose=True)
    if not rows:
        print("no models registered")
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        where = r.get("folder") or r.get("repo_id") or ""
        print(f"{r['name']:<{width}}  {r.get('paper', ''):<8}  {where}  {r.get('description', '')}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from synthkit.project import pip_hint

    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("the demo needs Gradio, which is the [demo] extra: " + pip_hint("demo")
                        + ' (from a checkout: pip install -e ".[demo]")') from None
    try:
        from demos import app
    except ImportError as err:  # an install without the demos package
        raise UserError(f"the demo app is not available ({err}); " + pip_hint("demo")) from err
    app.launch(host=args.host, port=args.port, share=args.share)


def _cmd_data_preview(args: argparse.Namespace) -> None:
    if args.dataset == "toyscapes":
        from synthkit.data.toyscapes import preview_grid
    elif args.dataset == "toyshapes3d":
        from synthkit.data.toyshapes3d import preview_grid
    else:
        raise UserError(f"unknown dataset {args.dataset!r}; valid: toyscapes, toyshapes3d")
    out = preview_grid(n=args.n, size=args.size, seed=args.seed, out=args.out)
    print(f"wrote {out or args.out}")


def _cmd_train(args: argparse.Namespace) -> None:
    if args.model == "backbone":  # the offline feature backbone has its own (supervised) recipe
        from synthkit import backbone_training

        argv = ["train", "--out", args.out or "runs/backbone"]
        for item in args.set or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise UserError(f"--set expects KEY=VALUE, got {item!r}")
            argv += [f"--{key.replace('_', '-')}", value]
        if args.dry_run:
            print("python -m synthkit.backbones " + " ".join(argv))
            return
        backbone_training.main(argv)
        return
    from synthkit.train import run_train

    run_train(args.model, args.preset, args.set or [], steps=args.steps, out=args.out, dry_run=args.dry_run,
              config_file=args.config)


def _cmd_sample(args: argparse.Namespace) -> None:
    import importlib

    import synthkit
    from synthkit import papers, registry
    from synthkit.viz import make_grid

    model = synthkit.load(args.model)
    paper = registry.paper_of(args.model, model)
    if paper == "backbone":
        raise UserError(f"{args.model!r} is a feature backbone (a classifier for the metrics and the Semantic "
                        "Pyramid), not a generator: there is nothing to sample; see synthkit.backbones.load_backbone")
    try:
        pipeline = importlib.import_module(papers.get(paper).pipeline_module)
    except ModuleNotFoundError as err:
        raise UserError(f"no sampling pipeline for {args.model!r} (paper {paper!r})") from err
    images = pipeline.sample_images(model, n=args.n, seed=args.seed)
    from PIL import Image

    Image.fromarray(make_grid(images, nrow=min(args.n, 4))).save(args.out)
    print(f"wrote {args.out}")


def _convert_overrides(args: argparse.Namespace) -> dict:
    """--set FIELD=VALUE (JSON values, else strings) and --image-size HxW -> config fields to take as given."""
    import json

    fields: dict = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            fields[key] = json.loads(value)
        except json.JSONDecodeError:
            fields[key] = value
    if args.image_size:
        try:
            h, w = (int(v) for v in args.image_size.lower().split("x"))
        except ValueError:
            raise UserError(f"--image-size expects HxW (e.g. 256x512), got {args.image_size!r}") from None
        if args.paper == "smis":
            fields["image_size"] = (h, w)
        else:
            fields["height"], fields["width"] = h, w
    return fields


def _cmd_convert(args: argparse.Namespace) -> None:
    from synthkit.convert.common import ConversionError

    if args.paper not in ("smis", "bachgan") and (args.opt or args.image_size or args.set or args.preset):
        raise UserError(f"convert {args.paper}: --opt, --image-size, --set and --preset are for smis / bachgan; "
                        f"{args.paper} reads everything from the checkpoint")
    try:
        _run_convert(args)
    except ConversionError as err:
        raise UserError(str(err)) from None


def _run_convert(args: argparse.Namespace) -> None:
    if args.paper == "smis":
        from synthkit.convert.smis import convert_smis

        out = convert_smis(args.generator, encoder_pth=args.encoder, preset=args.preset, out_dir=args.out,
                           opt_txt=args.opt, overrides=_convert_overrides(args))
    elif args.paper == "bachgan":
        from synthkit.convert.bachgan import convert_bachgan

        out = convert_bachgan(args.generator, preset=args.preset, out_dir=args.out, opt_txt=args.opt,
                              overrides=_convert_overrides(args))
    elif args.paper == "stylegan2":
        from synthkit.convert.stylegan2 import convert_stylegan2

        out = convert_stylegan2(args.generator, out_dir=args.out, lr_mlp=args.lr_mlp, sha256=args.sha256)
    elif args.paper == "places365":
        from synthkit.convert.places365 import convert_places365

        out, _ = convert_places365(args.generator, args.out)
    else:
        raise UserError(f"no converter for {args.paper!r}; valid: smis, bachgan, places365")
    print(f"wrote {out or args.out}")


def _cmd_bachgan_index(args: argparse.Namespace) -> None:
    from synthkit.retrieval import build_toyscapes_index

    out = build_toyscapes_index(n=args.n, size=args.size, out=args.out, seed=args.seed)
    print(f"wrote {out or args.out}")


def _print_files(verb: str, files: list[tuple[str, int, str]], where: str) -> None:
    """A file listing of push / space deploy: "<verb> N files (M MB) <where>:", then one line per file."""
    print(f"{verb} {len(files)} files ({sum(size for _, size, _ in files) / 1e6:.1f} MB) {where}:")
    for rel, size, sha in files:
        print(f"  {rel}  {size} bytes  sha256 {sha[:16]}")


def _cmd_push(args: argparse.Namespace) -> None:
    from pathlib import Path

    from synthkit import hub, publish, registry

    target = args.folder
    if target in registry.names() and registry.get(target).folder is not None:  # a bundled checkpoint
        entry = registry.get(target)
        folder, repo = entry.path, args.repo_id or entry.hub_repo
        problems = publish.card_problems(folder)
        if problems:
            raise UserError(f"{target}: its model card ({folder / 'README.md'}) is not ready to publish: "
                            + "; ".join(problems))
    elif Path(target).is_dir():
        folder, repo = Path(target), args.repo_id
        if repo is None:
            raise UserError(f"give the Hub repository to push {target} to: synthkit push {target} ORG/NAME")
    else:
        raise UserError(f"{target!r} is neither a bundled checkpoint ({', '.join(registry.names())}) nor a folder")
    if args.dry_run:
        publish.check_folder(folder)
        _print_files("would push", publish.push_files(folder), f"from {folder} to https://huggingface.co/{repo}")
        return
    try:
        url = publish.push_to_hub(folder, repo, private=args.private)
    except hub.CheckpointNotAvailable as err:
        raise UserError(str(err)) from None
    print(f"pushed {folder} -> {url}")
    if target in registry.names():
        print(f"pin it: in synthkit/registry.py, register({target!r}, ..., hub_revision=\"{url.rstrip('/').rsplit('/', 1)[-1]}\")")


def _cmd_space_list(args: argparse.Namespace) -> None:
    from synthkit import space

    for name in space.space_names():
        fm = space.front_matter((space.source_folder(name) / "README.md").read_text(encoding="utf-8"))
        print(f"{name:<20}  {fm.get('title', '')}  (default repo {space.default_repo(name)})")


def _cmd_space_build(args: argparse.Namespace) -> None:
    from synthkit import space

    try:
        out = space.build_space(args.name, args.out, wheel=args.wheel, release=args.release)
    except space.SpaceError as err:
        raise UserError(str(err)) from None
    how = "synthkit from its release tag" if args.release else "synthkit bundled"
    print(f"wrote the Space {args.name} to {out} ({how}); try it: cd {out} && python app.py")


def _cmd_space_deploy(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from synthkit import space

    repo = args.repo or space.default_repo(args.name)
    try:
        with tempfile.TemporaryDirectory(prefix=f"synthkit-space-{args.name}-") as tmp:
            folder = Path(args.folder) if args.folder else space.build_space(
                args.name, Path(tmp) / args.name, wheel=args.wheel, release=args.release)
            files = space.deploy_space(folder, repo, dry_run=args.dry_run, private=args.private)
    except space.SpaceError as err:
        raise UserError(str(err)) from None
    verb = "would upload" if args.dry_run else "uploaded"
    _print_files(verb, files, f"to the Space https://huggingface.co/spaces/{repo}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthkit", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Run `synthkit <command> --help` for the options of one command.")
    p.add_argument("--version", action="version", version=f"synthkit {_version()}")
    sub = p.add_subparsers(dest="command", metavar="command", required=True)

    s = sub.add_parser("list", help="list named checkpoints (bundled and Hub)")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("demo", help="launch the tabbed Gradio demo on the bundled checkpoints")
    s.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or $GRADIO_SERVER_NAME)")
    s.add_argument("--port", type=int, default=None, help="port (default: first free from 7860, or $GRADIO_SERVER_PORT)")
    s.add_argument("--share", action="store_true", help="create a public gradio.live link (needs network)")
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("data", help="dataset tools")
    dsub = s.add_subparsers(dest="data_command", metavar="action", required=True)
    d = dsub.add_parser("preview", help="write a grid of images next to their label (or instance) maps")
    d.add_argument("dataset", help="dataset name (toyscapes, toyshapes3d)")
    d.add_argument("--n", type=int, default=16, help="number of samples")
    d.add_argument("--size", type=int, default=128, help="image side in pixels")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", default="grid.png", help="PNG path")
    d.set_defaults(func=_cmd_data_preview)

    s = sub.add_parser("train", help="train a model with the one synthkit loop")
    s.add_argument("model", help="smis, bachgan, pyramid, toy, or backbone (the offline feature backbone)")
    s.add_argument("--preset", default="tiny_test", help="config preset of the model (see the model file)")
    s.add_argument("--config", default=None, metavar="FILE.json",
                   help="a JSON object of KEY: VALUE settings (order: preset < --config < --set)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field (repeatable)")
    s.add_argument("--steps", type=int, default=None, help="number of training steps")
    s.add_argument("--out", default=None, help="run folder (checkpoints, samples, loss curve, exported model)")
    s.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="generate a grid of samples from a named checkpoint or folder")
    s.add_argument("model", help="registry name, local folder or Hub repo id")
    s.add_argument("--n", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="samples.png")
    s.set_defaults(func=_cmd_sample)

    s = sub.add_parser("convert", help="convert official checkpoints into a synthkit folder")
    s.add_argument("paper", choices=["smis", "bachgan", "stylegan2", "places365"],
                   help="places365: the Places365 VGG-16 classifier (vgg16_places365.pth) for the Semantic Pyramid; "
                        "stylegan2: a rosinality-format .pt (g_ema), the architecture read from its keys")
    s.add_argument("generator", help="official .pth (e.g. latest_net_G.pth, or vgg16_places365.pth); stylegan2: a .pt "
                                     "file or ORG/NAME/file.pt on the Hugging Face Hub")
    s.add_argument("--lr-mlp", type=float, default=0.01, help="stylegan2: mapping lr multiplier (not stored; 0.01)")
    s.add_argument("--sha256", default=None, help="stylegan2: expected sha256 of the .pt (checked before loading)")
    s.add_argument("--encoder", default=None, help="SMIS only: latest_net_E.pth")
    s.add_argument("--opt", default=None,
                   help="smis/bachgan: the run's opt.txt (default: opt.txt beside the checkpoint, when there); it gives "
                        "what the weights do not hold (image size) and is checked against them")
    s.add_argument("--image-size", default=None, metavar="HxW",
                   help="smis/bachgan: the image size the run used (not stored in the weights)")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="smis/bachgan: take one config field as given (e.g. cgnorm=ade20k); checked against the weights")
    s.add_argument("--preset", default=None,
                   help="smis/bachgan: optional check that the checkpoint is this preset (deepfashion, cityscapes, "
                        "ade20k); the architecture is always read from the checkpoint")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=_cmd_convert)

    s = sub.add_parser("bachgan", help="BachGAN tools")
    bsub = s.add_subparsers(dest="bachgan_command", metavar="action", required=True)
    b = bsub.add_parser("build-index", help="build the retrieval memory from Toyscapes training label maps")
    b.add_argument("--n", type=int, default=10000)
    b.add_argument("--size", type=int, default=128)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", required=True)
    b.set_defaults(func=_cmd_bachgan_index)

    s = sub.add_parser("push", help="publish a bundled checkpoint (by name) or a trained folder on the Hugging Face Hub")
    s.add_argument("folder", help="a bundled checkpoint's name (synthkit list) or a checkpoint folder")
    s.add_argument("repo_id", nargs="?", default=None,
                   help="ORG/NAME (default for a bundled checkpoint: its hub_repo in synthkit/registry.py)")
    s.add_argument("--private", action="store_true")
    s.add_argument("--dry-run", action="store_true", help="list exactly what would be sent; send nothing")
    s.set_defaults(func=_cmd_push)

    s = sub.add_parser("space", help="build and upload Hugging Face Space folders (from a checkout)")
    ssub = s.add_subparsers(dest="space_command", metavar="action", required=True)
    sp = ssub.add_parser("list", help="the Spaces (folders of spaces/)")
    sp.set_defaults(func=_cmd_space_list)
    for action in ("build", "deploy"):
        sp = ssub.add_parser(action, help="assemble a self-contained Space folder" if action == "build" else
                             "build a Space and upload it (create_repo + upload_folder)")
        sp.add_argument("name", help="a folder of spaces/ (synthkit space list)")
        how = sp.add_mutually_exclusive_group()
        how.add_argument("--wheel", default=None, help="bundle this synthkit wheel (default: a wheel of this checkout)")
        how.add_argument("--release", action="store_true",
                         help="install synthkit from its release tag instead of bundling it (the tag must exist)")
        if action == "build":
            sp.add_argument("--out", required=True, help="a new or empty folder")
            sp.set_defaults(func=_cmd_space_build)
        else:
            sp.add_argument("--repo", default=None, help="ORG/NAME of the Space (default synthkit-cvpr20/synthkit-NAME)")
            sp.add_argument("--folder", default=None, help="upload this already built folder instead of building")
            sp.add_argument("--dry-run", action="store_true", help="list exactly what would be sent; send nothing")
            sp.add_argument("--private", action="store_true")
            sp.set_defaults(func=_cmd_space_deploy)
    return p


def _version() -> str:
    from synthkit import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (UserError, ValueError, FileNotFoundError, KeyError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
