"""SMIS at paper size: synthkit's GroupDNet against the official generator, side by side in one process.

Issue #3, item 8: with the same weights and input, synthkit's DeepFashion-preset generator (256x256, official widths)
must be (a) >= 1.5x faster than the official forward for a one-off forward (a new label map every call, nothing
cached across calls but the weights) and (b) >= 2.5x faster for a morph tick (same label map, new codes: the
label-map branch of every CG-Norm is cached, ``precompute_norm_params``), within the parity tolerance (1e-4).

How: the official ``DeepFashionGenerator`` is built from a checkout of the public Seanseattle/SMIS repository exactly
as ``../shared/tools/official-smis-time`` builds it (seed, two train-mode passes for non-trivial batch-norm
statistics, eval), and synthkit's converter loads its state_dict. Then, in rounds, the three measures run
interleaved (official forward, synthkit one-off forward, synthkit morph tick; the order alternates every round), so
both implementations see the same machine load; every synthkit output is compared with the official output of the
same (label map, z). The official code is imported from the checkout at run time (CC BY-NC-SA: never copied here).

    git --git-dir=<mirror of github.com/Seanseattle/SMIS> archive HEAD | tar -x -C /tmp/smis_official
    python benchmarks/bench_smis.py [--official /tmp/smis_official] [--rounds 7] [--threads N] [--ngf 160]
                                    [--wait-policies default,PASSIVE]

Threads: torch's default unless --threads (the official tool keeps torch's default). Each OpenMP wait policy runs
in its own subprocess (the variable is read when torch loads). Prints a table and writes
benchmarks/results/smis.md and smis.json (raw times, load averages, parity).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import sys
import time
import types
from argparse import Namespace
from pathlib import Path

import torch
import torch.nn.functional as F
from _timing import run_worker, write_results  # benchmarks/_timing.py

from synthkit.convert.smis import load_official_model
from synthkit.models.groupdnet import latent_from_official

RESULTS = Path(__file__).resolve().parent / "results"
TOL = 1e-4  # parity tolerance of the issue (max abs diff)
TARGETS = {"one-off forward": 1.5, "morph tick": 2.5}
C = 8  # DeepFashion classes


def official_generator(checkout: Path, ngf: int, seed: int) -> torch.nn.Module:
    """The official DeepFashionGenerator with official-smis-time's options, weights and BN statistics."""
    if not (checkout / "models" / "networks" / "generator.py").is_file():
        raise SystemExit(
            f"{checkout} is not a checkout of github.com/Seanseattle/SMIS (models/networks/generator.py missing); "
            "clone or export it there, or pass --official PATH"
        )
    sys.modules.setdefault("dill", pickle)  # util.util imports dill only for saving options
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # data loading only
    sys.path.insert(0, str(checkout))
    from models.networks.generator import DeepFashionGenerator

    opt = Namespace(dataset_mode="deepfashion", label_nc=C, semantic_nc=C, ngf=ngf, crop_size=256, aspect_ratio=1.0,
                    num_upsampling_layers="more", norm_G="spectralspadesyncbatch3x3", use_vae=True,
                    contain_dontcare_label=False, no_instance=True, gpu_ids=[])
    torch.manual_seed(seed)
    G = DeepFashionGenerator(opt)
    G.train()
    seg, z = random_seg(seed), random_z(seed + 1)
    with torch.no_grad():
        for _ in range(2):  # a few train-mode passes: non-trivial BN running stats (as official-smis-time)
            G(seg, z=z)
    return G.eval()


def random_seg(seed: int) -> torch.Tensor:
    """A random label map (every pixel its own class draw, as official-smis-time) as one-hot [1, 8, 256, 256]."""
    label = torch.randint(0, C, (1, 256, 256), generator=torch.Generator().manual_seed(seed))
    return F.one_hot(label, C).permute(0, 3, 1, 2).float()


def random_z(seed: int) -> torch.Tensor:
    """Official latent layout [1, 8C, 4, 4]."""
    return torch.randn(1, 8 * C, 4, 4, generator=torch.Generator().manual_seed(seed))


def timed(fn) -> tuple[float, torch.Tensor]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def summary(seconds: list[float]) -> dict:
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds), "runs": seconds}


def measure(args) -> dict:
    """One interleaved run in this process (its OMP_WAIT_POLICY as started): times, ratios, parity."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    official = official_generator(Path(args.official), args.ngf, args.seed)
    preset = "deepfashion" if args.ngf == 160 else None
    if preset is None:
        from synthkit.models.groupdnet import GroupDNetConfig

        ngf = args.ngf  # the official width rule at another ngf
        widths = (16 * ngf,) * 3 + (8 * ngf, 4 * ngf, 2 * ngf, ngf)
        preset = GroupDNetConfig.from_preset("deepfashion", block_channels=widths)
    model, _ = load_official_model(official.state_dict(), None, preset)
    from synthkit.models.groupdnet_fast import FastGroupDNetGenerator

    G = FastGroupDNetGenerator(model.G.eval())  # the opt-in fast eval path (the plain path is the reference)

    G(latent_from_official(random_z(1), C), random_seg(1))  # warm-up (and folds the eval weights once)
    official(random_seg(1), z=random_z(1))
    # (b) the morph: one label map, class 0's code moves; the cache is built once (timed apart, not per tick)
    morph_seg = random_seg(10_000)
    t_build, cache = timed(lambda: G.precompute_norm_params(morph_seg))
    z_tick = latent_from_official(random_z(10_001), C).clone()

    load_start = os.getloadavg()
    official_s, oneoff_s, tick_s, parity = [], [], [], []
    for r in range(args.rounds):
        seg, z = random_seg(100 + r), random_z(200 + r)  # a new label map and code every round
        z_tick[:, 0] = torch.randn(z_tick[:, 0].shape, generator=torch.Generator().manual_seed(300 + r))

        def run_official():
            dt, out = timed(lambda: official(seg, z=z))
            official_s.append(dt)
            return out

        def run_oneoff():
            dt, out = timed(lambda: G(latent_from_official(z, C), seg))
            oneoff_s.append(dt)
            return out

        def run_tick():
            dt, _ = timed(lambda: G(z_tick, norm_cache=cache))
            tick_s.append(dt)

        order = (run_official, run_oneoff, run_tick) if r % 2 == 0 else (run_tick, run_oneoff, run_official)
        outs = {f: f() for f in order}
        parity.append((outs[run_oneoff] - outs[run_official]).abs().max().item())
        print(f"[OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}] round {r}: official "
              f"{official_s[-1]:.2f} s, synthkit one-off {oneoff_s[-1]:.2f} s, tick {tick_s[-1]:.2f} s, "
              f"|diff| {parity[-1]:.1e}", flush=True)
    load_end = os.getloadavg()

    # the tick is the official forward of (morph map, z_tick) too, and the uncached synthkit forward
    tick_out = G(z_tick, norm_cache=cache)
    tick_vs_official = (tick_out - official(morph_seg, z=z_tick.reshape(1, 8 * C, 4, 4))).abs().max().item()
    tick_vs_uncached = (tick_out - G(z_tick, morph_seg)).abs().max().item()

    off, one, tick = summary(official_s), summary(oneoff_s), summary(tick_s)
    return {
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "threads": torch.get_num_threads(), "load_avg_start": load_start, "load_avg_end": load_end,
        "official_forward": off, "synthkit_one_off": one, "synthkit_morph_tick": tick, "morph_cache_build_s": t_build,
        "speedup": {"one-off forward": off["median_s"] / one["median_s"],
                    "morph tick": off["median_s"] / tick["median_s"]},
        # the same ratio within each round (both sides under that round's load), then its median over the rounds
        "speedup_per_round_median": {
            "one-off forward": statistics.median(a / b for a, b in zip(official_s, oneoff_s)),
            "morph tick": statistics.median(a / b for a, b in zip(official_s, tick_s)),
        },
        "parity_max_abs_diff": max(parity + [tick_vs_official]), "parity_per_round": parity,
        "tick_vs_official_max_abs_diff": tick_vs_official, "tick_vs_uncached_max_abs_diff": tick_vs_uncached,
    }


def report(runs: list[dict], env: dict) -> str:
    lines = [
        f"# SMIS / GroupDNet at paper size (DeepFashion 256x256, ngf {env['ngf']}, batch 1, CPU): synthkit vs official",
        "",
        f"`{env['command'].strip()}`, {env['date_utc']} UTC. Same process, same weights (the official generator's, "
        "converted), same inputs; the three measures interleaved for "
        f"{env['rounds']} rounds (order alternating), each round a new random label map and code. torch "
        f"{env['torch']}, {env['cpus']} CPUs shared with other jobs (load averages below): absolute times depend on "
        "that load; the ratios are what the interleaving makes fair. Each OpenMP wait policy is its own process: "
        "`default` is what official-smis-time gets; `PASSIVE` lets idle OpenMP threads sleep instead of spinning, "
        "which steadies the numbers on an oversubscribed machine.",
        "",
        "| OMP_WAIT_POLICY | threads | load avg 1/5/15 (start -> end) | measure | official median s | "
        "synthkit median s (min-max) | speed-up (ratio of medians) | median of per-round ratios | target | |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        load = (f"{'/'.join(f'{x:.1f}' for x in run['load_avg_start'])} -> "
                f"{'/'.join(f'{x:.1f}' for x in run['load_avg_end'])}")
        off = run["official_forward"]
        for name, key in (("one-off forward", "synthkit_one_off"), ("morph tick", "synthkit_morph_tick")):
            ours, ratio = run[key], run["speedup"][name]
            lines.append(
                f"| {run['omp_wait_policy']} | {run['threads']} | {load} | {name} | {off['median_s']:.2f} | "
                f"{ours['median_s']:.2f} ({ours['min_s']:.2f}-{ours['max_s']:.2f}) | **{ratio:.2f}x** | "
                f"{run['speedup_per_round_median'][name]:.2f}x | >= {TARGETS[name]}x | "
                f"{'met' if ratio >= TARGETS[name] else 'NOT met'} |"
            )
    lines += [""]
    for run in runs:
        off = run["official_forward"]
        lines.append(
            f"- {run['omp_wait_policy']}: official forward min-max {off['min_s']:.2f}-{off['max_s']:.2f} s; morph "
            f"cache build (label-map branches, once per map) {run['morph_cache_build_s']:.2f} s; parity max "
            f"|synthkit - official| over all one-off rounds and the morph tick {run['parity_max_abs_diff']:.1e} "
            f"(tolerance {TOL:g}); cached tick vs uncached synthkit forward {run['tick_vs_uncached_max_abs_diff']:.1e}."
        )
    lines += [
        "",
        "synthkit's eval forward: weights folded once (spectral norm, CG-Norm batch-norm statistics, the shortcut "
        "conv through its shift map; NHWC layout), each block's label-map branch computed just before the block, "
        "activations overwritten in place; the tick reads the cached label-map branch (synthkit/models/groupdnet_fast.py, the opt-in fast path; synthkit/models/groupdnet.py is the plain reference). "
        "Profiled here (torch.profiler, one forward each): synthkit's one-off spends ~93% of its time in oneDNN "
        "convolutions, the official forward ~66% (the rest: batch norm, element-wise passes, weight copies); the "
        "gain is those passes plus fewer multiply-adds (the shortcut fold), the convolutions themselves cost the "
        "same per multiply-add, which bounds the one-off speed-up.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", default="/tmp/smis_official", help="checkout of github.com/Seanseattle/SMIS")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (one call of each measure per round)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, as the official tool)")
    ap.add_argument("--ngf", type=int, default=160, help="official width (160 = paper size)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wait-policies", default="default,PASSIVE",
                    help="OMP_WAIT_POLICY values, one subprocess each ('default' = unset)")
    ap.add_argument("--no-save", action="store_true", help="print only (e.g. a quick check at a small --ngf)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: write one run as JSON here
    args = ap.parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    if args.worker:
        Path(args.worker).write_text(json.dumps(measure(args)))
        return 0

    runs = []
    for policy in (p.strip() for p in args.wait_policies.split(",")):
        runs.append(run_worker(__file__, argv, policy))
    env = {
        "torch": torch.__version__, "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "rounds": args.rounds, "ngf": args.ngf, "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": "python benchmarks/bench_smis.py " + " ".join(argv),
    }
    text = report(runs, env)
    payload = {"env": env, "targets": TARGETS, "tolerance": TOL, "runs": runs}
    if args.no_save:
        print(text)
    else:
        write_results(RESULTS, "smis", text, payload)
    worst = max(run["parity_max_abs_diff"] for run in runs)
    if worst > TOL:
        print(f"PARITY FAILED: {worst:.3g} > {TOL}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
