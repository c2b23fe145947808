"""Time per training step: the kit's ``SegmentationTrainer`` against a bare MONAI/PyTorch loop.

Both loops get the same network architecture and initial weights, the same optimiser,
loss and learning rate, and the very same batches (drawn once from ct-seg's own data
pipeline on the development config), so the ratio isolates what our loop adds per step:
MetaTensor stripping, device moves, loss accumulation, progress-bar updates and the
scheduler step. The two loops alternate in rounds so that machine noise hits both.

    uv run python benchmarks/ct_seg_train_step.py [--rounds 5] [--steps 8]

Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from monai.losses import DiceCELoss
from tqdm.auto import tqdm

from ct_seg.settings import BINDING, PROJECT
from medai.segmentation.networks import build_network
from medai.segmentation.training import SegmentationTrainer, data_loaders


def bare_steps(
    network: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], lr: float, wd: float
) -> float:
    """The textbook MONAI loop: zero_grad, forward, DiceCE, backward, step."""
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=wd)
    network.train()
    start = time.perf_counter()
    for image, label in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(image), label)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / len(batches)


def our_steps(trainer: SegmentationTrainer, batches: list[dict[str, torch.Tensor]]) -> float:
    """ct-seg's loop, as ``train()`` runs it (with a progress bar writing to nowhere)."""
    with Path(os.devnull).open("w") as sink, tqdm(total=len(batches), file=sink) as progress:
        start = time.perf_counter()
        trainer.train_epoch(batches, progress)
        return (time.perf_counter() - start) / len(batches)


def main() -> None:
    """Measure both loops side by side and print per-step times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="steps per loop per round")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        settings = BINDING.load(
            [f"data.root={Path(scratch)}", "data.synthetic.n_cases=8"], environ={}
        )
        data = PROJECT.load_data(settings)
        loader, _ = data_loaders(settings, data)
        batches = []
        while len(batches) < args.steps:
            batches.extend(loader)
        batches = batches[: args.steps]
    plain = [(b["image"].as_tensor(), b["label"].as_tensor()) for b in batches]
    shape = tuple(plain[0][0].shape)

    torch.manual_seed(0)
    template = build_network(settings.model, num_classes=len(data.labels))
    ours = SegmentationTrainer(copy.deepcopy(template), settings)
    bare = copy.deepcopy(template.exportable())
    lr, wd = settings.train.learning_rate, settings.train.weight_decay

    # Warm-up both (allocator, oneDNN primitives), then alternate timed rounds.
    our_steps(ours, batches[:2])
    bare_steps(bare, plain[:2], lr, wd)
    ours_times, bare_times = [], []
    for _ in range(args.rounds):
        ours_times.append(our_steps(ours, batches))
        bare_times.append(bare_steps(bare, plain, lr, wd))

    ours_median, bare_median = statistics.median(ours_times), statistics.median(bare_times)

    def rounds(times: list[float]) -> str:
        return ", ".join(f"{t * 1000:.0f}" for t in times)

    threads = torch.get_num_threads()
    print(f"batch {shape}, {args.rounds} rounds x {args.steps} steps, {threads} threads")
    print(f"bare MONAI/PyTorch loop   : {bare_median * 1000:8.1f} ms/step ({rounds(bare_times)})")
    print(f"ct-seg SegmentationTrainer: {ours_median * 1000:8.1f} ms/step ({rounds(ours_times)})")
    print(f"ratio ours / bare         : {ours_median / bare_median:8.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
