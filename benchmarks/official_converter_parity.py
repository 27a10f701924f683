"""Convert checkpoints written by the *official* SMIS and BachGAN code at widths, class counts, crop sizes and batch
sizes that synthkit has no preset for, with no preset, and compare the outputs.

    python benchmarks/official_converter_parity.py --smis SMIS_CHECKOUT --bachgan BACHGAN_CHECKOUT [--work DIR]

SMIS_CHECKOUT / BACHGAN_CHECKOUT: clones of the public Seanseattle/SMIS and Cold-Winter/BachGAN repositories (run
here, never copied into synthkit). For each case the official side (a subprocess inside the checkout) parses the
official TrainOptions from a command line, which writes the real ``opt.txt`` into ``checkpoints/<name>/``; builds the
official generator (and encoder) with those options, runs a few train-mode passes (non-trivial batch-norm
statistics), saves ``latest_net_G.pth`` (+ ``latest_net_E.pth``) the way the official ``save_network`` does
(``torch.save(net.state_dict())``), and records one eval-mode forward. The synthkit side runs
``synthkit convert smis|bachgan <pth> --out DIR`` (no preset; opt.txt is found beside the checkpoint), loads the
folder with ``synthkit.load`` and compares. Prints a table and writes
``benchmarks/results/official_converter_parity.md``. Needs only torch and safetensors on the official side (cv2,
dill, skimage are shimmed as empty modules: the options and dataset code import them for features not used here).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (repo, official argv (after train.py), batch, with encoder)
CASES = {
    "smis_deepfashion_ngf12_b2": ("smis", ["--dataset_mode", "deepfashion", "--netG", "deepfashion", "--ngf", "12",
                                           "--label_nc", "8", "--no_instance", "--crop_size", "256",
                                           "--load_size", "256", "--aspect_ratio", "1"], 2, True),
    # DeepFashionGenerator.forward hard-codes the 4x4 grid (z.view(..., 4, 4)): it runs at crop 256 only
    "smis_deepfashion_16classes_ngf4_b3": ("smis", ["--dataset_mode", "deepfashion", "--netG", "deepfashion",
                                                    "--ngf", "4", "--label_nc", "16", "--no_instance",
                                                    "--crop_size", "256", "--load_size", "256",
                                                    "--aspect_ratio", "1"], 3, False),
    "smis_cityscapes_ngf140_128x256_b2": ("smis", ["--dataset_mode", "cityscapes", "--netG", "cityscapes", "--ngf", "140",
                                                   "--label_nc", "35", "--crop_size", "256", "--load_size", "256",
                                                   "--aspect_ratio", "2"], 2, False),
    "smis_ade20k_31classes_ngf8_128px_b2": ("smis", ["--dataset_mode", "ade20k", "--netG", "ade20k", "--ngf", "8",
                                                     "--label_nc", "30", "--contain_dontcare_label", "--no_instance",
                                                     "--crop_size", "128", "--load_size", "128"], 2, False),
    "bachgan_12classes_ngf16_128px_normal_b3": ("bachgan", ["--dataset_mode", "cityscapes", "--ngf", "16",
                                                            "--label_nc", "12", "--no_instance", "--crop_size", "128",
                                                            "--load_size", "128", "--aspect_ratio", "1",
                                                            "--num_upsampling_layers", "normal", "--retrival_memory"],
                                                3, False),
}

# Runs inside the official checkout (cwd), as a separate process: both repos have top-level packages named
# models / options / util.
OFFICIAL_SIDE = r'''
import json, sys, types, pickle
import torch, torch.nn.functional as F
sys.modules.setdefault("dill", pickle); sys.modules.setdefault("cv2", types.ModuleType("cv2"))
import importlib.abc, importlib.machinery
class _Shim(importlib.abc.MetaPathFinder, importlib.abc.Loader):  # empty modules for dataset-only imports
    roots = ("skimage", "dominate")
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
    def create_module(self, spec):
        mod = types.ModuleType(spec.name); mod.__path__ = []; mod.__getattr__ = lambda attr: None
        return mod
    def exec_module(self, module):
        pass
sys.meta_path.append(_Shim())
sys.path.insert(0, ".")
repo, name, ckpt_dir, batch, with_encoder, argv = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1", sys.argv[6:]
sys.argv = ["train.py", "--name", name, "--checkpoints_dir", ckpt_dir, "--gpu_ids", "-1", "--batchSize", str(batch)] + argv
if repo == "smis":
    sys.argv += ["--model", "smis"]
from options.train_options import TrainOptions
opt = TrainOptions().parse()          # writes checkpoints/<name>/opt.txt (and opt.pkl)
opt.gpu_ids = []
torch.manual_seed(0)
import models.networks.generator as gen
if repo == "smis":
    cls = {"deepfashion": gen.DeepFashionGenerator, "cityscapes": gen.CityscapesGenerator, "ade20k": gen.ADE20KGenerator}[opt.netG]
else:
    cls = gen.SPADEGenerator
G = cls(opt)  # PyTorch's default init, not init_weights(xavier, 0.02): that gives outputs of ~1e-3, too small to compare
C = opt.semantic_nc
H = G.sh * 2 ** {"normal": 5, "more": 6, "most": 7}[opt.num_upsampling_layers]
W = G.sw * 2 ** {"normal": 5, "more": 6, "most": 7}[opt.num_upsampling_layers]
g = torch.Generator().manual_seed(1)
label = torch.randint(0, C, (batch, 1, H, W), generator=g)
seg = F.one_hot(label[:, 0], C).permute(0, 3, 1, 2).float()
out = {"input.label": label.to(torch.uint8)}
with torch.no_grad():
    if repo == "smis":
        if opt.dataset_mode == "cityscapes":
            edge = (torch.rand(batch, 1, H, W, generator=g) < 0.1).float()
            seg = torch.cat([seg, edge], 1)
            out["input.edge"] = edge.to(torch.uint8)
        z = torch.randn(batch, 8 * C, G.sh, G.sw, generator=g)
        out["input.z"] = z
        G.train()
        for _ in range(2):
            G(seg, z=torch.randn_like(z))
        G.eval()
        out["output.image"] = G(seg, z=z)
    else:
        box = (torch.rand(batch, C, H, W, generator=g) < 0.3).float()
        retrieved = torch.cat([F.one_hot(torch.randint(0, C, (batch, H, W), generator=g), C).permute(0, 3, 1, 2).float()
                               for _ in range(3)], 1)
        out["input.box_layout"], out["input.retrieved"] = box, retrieved
        G.train()
        for _ in range(2):
            G(box, retrieved)
        G.eval()
        image, seg_out = G(box, retrieved)
        out["output.image"], out["output.seg_logprob"] = image, seg_out
torch.save(G.state_dict(), f"{ckpt_dir}/{name}/latest_net_G.pth")
if with_encoder:
    from models.networks.encoder import ConvEncoder
    E = ConvEncoder(opt)
    crops = torch.rand(batch, 3 * C, 256, 256, generator=g) * 2 - 1
    with torch.no_grad():
        E.train(); E(crops); E.eval()
        mu, logvar = E(crops)
    out.update({"input.crops": crops, "output.mu": mu, "output.logvar": logvar})
    torch.save(E.state_dict(), f"{ckpt_dir}/{name}/latest_net_E.pth")
from safetensors.torch import save_file
save_file({k: v.contiguous() for k, v in out.items()}, f"{ckpt_dir}/{name}/io.safetensors")
print(json.dumps({"class": cls.__name__, "semantic_nc": C, "size": [H, W], "ngf": opt.ngf}))
'''


def official_side(repo_dir: Path, repo: str, name: str, ckpt: Path, batch: int, encoder: bool, argv: list[str]) -> dict:
    cmd = [sys.executable, "-c", OFFICIAL_SIDE, repo, name, str(ckpt), str(batch), "1" if encoder else "0", *argv]
    done = subprocess.run(cmd, cwd=repo_dir, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"official side failed for {name}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def synthkit_side(repo: str, folder: Path, out: Path) -> dict:
    import torch
    from safetensors.torch import load_file

    import synthkit
    from synthkit.models.groupdnet import latent_from_official

    io = load_file(str(folder / "io.safetensors"))
    cmd = [sys.executable, "-m", "synthkit", "convert", repo, str(folder / "latest_net_G.pth"), "--out", str(out)]
    if (folder / "latest_net_E.pth").exists():
        cmd += ["--encoder", str(folder / "latest_net_E.pth")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"synthkit convert failed for {folder.name}:\n{done.stdout}\n{done.stderr[-3000:]}")
    model = synthkit.load(str(out))
    diffs, scale = {}, {}
    with torch.no_grad():
        if repo == "smis":
            cfg = model.config
            seg = torch.nn.functional.one_hot(io["input.label"][:, 0].long(), cfg.num_classes).permute(0, 3, 1, 2).float()
            if cfg.instance_edge:
                seg = torch.cat([seg, io["input.edge"].float()], 1)
            image = model.generate(latent_from_official(io["input.z"], cfg.num_classes), seg)
            diffs["image"] = (image - io["output.image"]).abs().max().item()
            scale["image"] = io["output.image"].std().item()
            if "output.mu" in io:
                mu, logvar = model.E(io["input.crops"])
                diffs["mu"] = (mu - latent_from_official(io["output.mu"], cfg.num_classes)).abs().max().item()
                diffs["logvar"] = (logvar - latent_from_official(io["output.logvar"], cfg.num_classes)).abs().max().item()
        else:
            image, seg_logprob = model(io["input.box_layout"], io["input.retrieved"])
            diffs["image"] = (image - io["output.image"]).abs().max().item()
            scale["image"] = io["output.image"].std().item()
            diffs["seg_logprob"] = (seg_logprob - io["output.seg_logprob"]).abs().max().item()
    report = json.loads((out / "conversion.json").read_text())
    return {"diffs": diffs, "image_std": scale["image"], "inferred": {k: v["value"] for k, v in report["inferred"].items()}, "stdout": done.stdout}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smis", type=Path, required=True)
    ap.add_argument("--bachgan", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/official_converter_parity"))
    ap.add_argument("--only", default=None, help="run the cases whose name contains this")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "official_converter_parity.md")
    a = ap.parse_args(argv)
    rows = []
    for name, (repo, off_argv, batch, encoder) in CASES.items():
        if a.only and a.only not in name:
            continue
        t0 = time.perf_counter()
        meta = official_side(a.smis if repo == "smis" else a.bachgan, repo, name, a.work / "checkpoints", batch,
                             encoder, off_argv)
        res = synthkit_side(repo, a.work / "checkpoints" / name, a.work / "converted" / name)
        worst = max(res["diffs"].values())
        rows.append((name, meta, batch, res, worst, time.perf_counter() - t0))
        print(f"{name}: official {meta['class']} C={meta['semantic_nc']} ngf={meta['ngf']} {meta['size']} batch {batch}"
              f" -> image std {res['image_std']:.3f}, max abs diff {worst:.2e} ({', '.join(f'{k} {v:.1e}' for k, v in res['diffs'].items())})", flush=True)
    lines = [
        "# Converters on checkpoints of the official code at sizes synthkit has no preset for",
        "",
        f"`python benchmarks/official_converter_parity.py --smis SMIS_CHECKOUT --bachgan BACHGAN_CHECKOUT` "
        f"({time.strftime('%Y-%m-%d')}; SMIS b86a6c0, BachGAN b540490, PyTorch's default random init, 2 train-mode passes for batch-norm statistics).",
        "Each checkpoint and its opt.txt were written by the official code (TrainOptions.parse, "
        "torch.save(state_dict)); synthkit converted it with `synthkit convert` and **no preset** (opt.txt found "
        "beside the checkpoint). Tolerance 1e-4 (max abs diff).",
        "",
        "| case | official class | C | ngf | image | batch | official image std | max abs diff | inferred (a few fields) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, meta, batch, res, worst, _ in rows:
        inf = res["inferred"]
        keys = [k for k in ("cgnorm", "block_groups", "fc_groups", "base_channels", "num_upsampling_layers",
                            "image_size", "height", "width") if k in inf]
        lines.append(f"| {name} | {meta['class']} | {meta['semantic_nc']} | {meta['ngf']} | {meta['size'][0]}x"
                     f"{meta['size'][1]} | {batch} | {res['image_std']:.3f} | {worst:.1e} {'ok' if worst <= 1e-4 else 'FAIL'} | "
                     + ", ".join(f"{k} {inf[k]}" for k in keys) + " |")
    a.results.write_text("\n".join(lines) + "\n")
    print(f"wrote {a.results}")
    if any(r[4] > 1e-4 for r in rows):
        raise SystemExit("some case exceeds 1e-4")


if __name__ == "__main__":
    main()
