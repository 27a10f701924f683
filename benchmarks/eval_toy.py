"""Quality of the bundled toy DCGAN (toy-toyscapes32) on the offline Toyscapes backbone.

    python benchmarks/eval_toy.py [--n 1000] [--seed 0]

Rows: FID and KID of N generated images against N held-out Toyscapes test images, and the same for two disjoint
sets of real images (the floor a perfect generator would reach at this N). The backbone expects 64-256 px: both
sets are upsampled bilinearly from 32 to 64 px first (said in each row's provenance). Offline numbers: they compare
synthkit models with each other, never with published FIDs. Writes benchmarks/results/toy_quality.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results"


def real_images(n: int, size: int, seed: int, offset: int = 0) -> torch.Tensor:
    from synthkit.data.toyscapes import ToyscapesDataset

    data = ToyscapesDataset(size=size, length=offset + n, split="test", seed=seed)
    return torch.stack([torch.as_tensor(data[offset + i]["image"]) for i in range(n)])


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] or float [N, 3, H, W] in [-1, 1] -> float [N, 3, H, W] in [-1, 1]."""
    if x.dtype == torch.uint8:
        x = x.permute(0, 3, 1, 2).float() / 127.5 - 1
    return x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="toy-toyscapes32")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    import synthkit
    from synthkit.backbones import load_backbone
    from synthkit.metrics.fid import extract_features, fid_from_features, kid_from_features

    t0 = time.perf_counter()
    G = synthkit.load(args.model).eval()
    size = G.config.image_size if hasattr(G.config, "image_size") else 32
    backbone = load_backbone("toyscapes")
    prov = backbone.provenance
    resize = f"bilinear {size}->64 px (the backbone's smallest size), both sets"
    up = lambda x: F.interpolate(to_model_range(x), size=(64, 64), mode="bilinear", align_corners=False)  # noqa: E731
    with torch.no_grad():
        z = torch.randn(args.n, G.config.z_dim, generator=torch.Generator().manual_seed(args.seed))
        fake = torch.cat([G(z[i:i + 250]).clamp(-1, 1) for i in range(0, args.n, 250)])
        feats = {k: extract_features(up(v), backbone) for k, v in {
            "fake": fake, "real": real_images(args.n, size, args.seed),
            "real2": real_images(args.n, size, args.seed, offset=args.n)}.items()}
    rows = []
    for label, a, b in [(f"{args.model} (G EMA) vs real", "real", "fake"),
                        ("real vs real (disjoint sets: the floor at this N)", "real", "real2")]:
        kw = dict(backend=prov["backend"], weights_sha256=prov.get("weights_sha256"), resize=resize)
        f = fid_from_features(feats[a], feats[b], **kw)
        k = kid_from_features(feats[a], feats[b], seed=args.seed, num_subsets=100, subset_size=200, **kw)
        rows.append({"what": label, "fid": f.value, "kid": k.value, "kid_std": k.extra["std"], "fid_provenance": str(f),
                     "kid_provenance": str(k)})
    sha = (prov.get("weights_sha256") or "none")[:12]
    md = ["# Toy DCGAN quality (offline backbone)", "",
          f"`python benchmarks/eval_toy.py --n {args.n} --seed {args.seed}`; {args.n} generated images (z seed "
          f"{args.seed}) vs {args.n} Toyscapes test images (split `test`, data seed {args.seed}), {resize}; "
          f"backbone {prov['backend']} {sha}…; {time.perf_counter() - t0:.0f} s on CPU. Not comparable to any "
          "published FID.", "", "| what | FID | KID x1000 (100 subsets of 200, ± std) |", "|---|---|---|"]
    md += [f"| {r['what']} | {r['fid']:.2f} | {1000 * r['kid']:.2f} ± {1000 * r['kid_std']:.2f} |" for r in rows]
    text = "\n".join(md) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "toy_quality.md").write_text(text)
    (out / "toy_quality.json").write_text(json.dumps({"n": args.n, "seed": args.seed, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
