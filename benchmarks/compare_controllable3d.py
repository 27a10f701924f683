"""Side by side: two results of eval_controllable3d.py (e.g. the paper's ablation without the 3D-consistency loss).

    python benchmarks/compare_controllable3d.py A_STEM B_STEM --names "with consistency" "without" --out STEM

Reads benchmarks/results/<stem>.json of each, writes benchmarks/results/<out>.{md,json}. Both must be evaluated
with the same --n-scenes, --n-fid and --seed (checked), so that the rows compare like with like.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROWS = (("visible primitives = objects in the image", "count_match", "{:.1%}"),
        ("matched primitive / object IoU", "matched_iou", "{:.3f}"),
        ("translation sweep correlation (pooled)", "translation_correlation_pooled", "{:.3f}"),
        ("removing a primitive removes exactly one object", "removal_exactly_one", "{:.1%}"),
        ("new appearance keeps the alpha masks (IoU)", "appearance_iou", "{:.3f}"),
        ("objects per generated image (real: 2.0)", "objects_per_image_generated", "{:.2f}"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--names", nargs=2, default=("A", "B"))
    p.add_argument("--out", required=True)
    args = p.parse_args()
    ra, rb = (json.loads((RESULTS / f"{s}.json").read_text()) for s in (args.a, args.b))
    for key in ("n_scenes", "n_fid", "seed"):
        if ra["args"][key] != rb["args"][key]:
            raise SystemExit(f"{args.a} and {args.b} differ in --{key.replace('_', '-')}: "
                             f"{ra['args'][key]} vs {rb['args'][key]}; evaluate both the same way")
    na, nb = args.names
    lines = [f"# {na} vs {nb}", "", f"{na}: {ra['model']}; {nb}: {rb['model']}. {ra['args']['n_scenes']} generated "
             f"scenes each (seeds 10000..), FID / KID on {ra['args']['n_fid']} vs {ra['args']['n_fid']} held-out "
             f"Toyshapes3D images with the offline backbone ({ra['fid_provenance']['backend']}, weights "
             f"{str(ra['fid_provenance']['weights_sha256'])[:12]}; not comparable with any paper).", "",
             f"| check | {na} | {nb} |", "|---|---:|---:|"]
    for label, key, fmt in ROWS:
        lines.append(f"| {label} | {fmt.format(ra['controls'][key])} | {fmt.format(rb['controls'][key])} |")
    lines.append(f"| FID (offline backbone) | {ra['fid']:.1f} | {rb['fid']:.1f} |")
    lines.append(f"| KID x1e3 (offline backbone) | {1e3 * ra['kid']:.1f} | {1e3 * rb['kid']:.1f} |")
    lines += ["", f"`python benchmarks/compare_controllable3d.py {args.a} {args.b} --names \"{na}\" \"{nb}\" "
              f"--out {args.out}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; sources "
              f"benchmarks/results/{args.a}.md and {args.b}.md.", ""]
    from _timing import write_results

    write_results(RESULTS, args.out, "\n".join(lines), {"a": args.a, "b": args.b, "names": [na, nb]})


if __name__ == "__main__":
    main()
