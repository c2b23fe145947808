"""Time per training step: the training engine against a bare PyTorch loop, per kind.

For each project (ct-seg and brain-mri: segmentation; cxr-cls: classification) both
loops get the same network architecture and initial weights, the same optimiser, loss
and learning rate, and the very same batches (drawn once from the project's own data
pipeline on the development config, served by the same DataLoader), so the ratio
isolates what the engine adds per step: Lightning's loop, hooks, optimiser closure,
batch transfer and the engine's loss accumulation. The two loops alternate in rounds
so that machine noise hits both. The engine is timed from the start of its first
batch to the end of its last (validation and checkpointing after them are not steps).

    uv run python benchmarks/engine_train_step.py [--projects ct-seg cxr-cls brain-mri]
        [--rounds 5] [--steps 8]

Target: ratio <= 1.10 for every kind.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from monai.losses import DiceCELoss
from torch.utils.data import DataLoader

import cxr_cls.settings as cxr_cls_settings
from brain_mri import settings as brain_mri_settings
from ct_seg import settings as ct_seg_settings
from medai.classification.model_factory import build_network as build_classifier
from medai.classification.training import masked_bce_with_logits, training_setup
from medai.classification.training_inputs import read_training_inputs
from medai.engine.devices import plan_devices
from medai.engine.fit import fit
from medai.engine.settings import TrainingSettings
from medai.engine.task import TrainingTask
from medai.segmentation.networks import build_network as build_segmentation_network
from medai.segmentation.training import SegmentationTask, data_loaders, plain_tensor

SEGMENTATION: dict[str, tuple[Any, Any]] = {
    "ct-seg": (ct_seg_settings.BINDING, ct_seg_settings.PROJECT),
    "brain-mri": (brain_mri_settings.BINDING, brain_mri_settings.PROJECT),
}

Batches = DataLoader[Any]


class StepTimer(Callback):
    """Seconds from the first training batch's start to the last one's end."""

    def __init__(self) -> None:
        """Nothing timed yet."""
        self.first = 0.0
        self.last = 0.0
        self.steps = 0

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:  # noqa: ARG002
        """Start the clock at the first batch."""
        if self.steps == 0:
            self.first = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:  # noqa: ARG002
        """Count the step and note when it ended."""
        self.steps += 1
        self.last = time.perf_counter()

    def per_step(self) -> float:
        """Mean seconds per step."""
        return (self.last - self.first) / self.steps


@dataclass
class KindBench:
    """One project's batches, its engine task, and the bare loop's step."""

    project: str
    task: TrainingTask
    train: TrainingSettings
    batches: Batches
    val: Batches
    bare_step: Callable[[Any], None]

    def engine_round(self) -> float:
        """Seconds per step of one engine epoch over the batches."""
        timer = StepTimer()
        with tempfile.TemporaryDirectory() as checkpoints:
            fit(
                self.task,
                self.batches,
                self.val,
                train=self.train,
                devices=plan_devices(self.train),
                checkpoint_dir=Path(checkpoints),
                callbacks=[timer],
            )
        return timer.per_step()

    def bare_round(self) -> float:
        """Seconds per step of the bare loop over the same batches."""
        start = time.perf_counter()
        steps = 0
        for batch in self.batches:
            self.bare_step(batch)
            steps += 1
        return (time.perf_counter() - start) / steps


def _fixed(batches: list[Any]) -> Batches:
    """The drawn batches, each served as it is."""
    return DataLoader(batches, batch_size=None, shuffle=False)  # type: ignore[arg-type]


def _drawn(loader: Iterator[Any] | Batches, steps: int) -> list[Any]:
    batches: list[Any] = []
    while len(batches) < steps:
        batches.extend(loader)
    return batches[:steps]


def one_epoch(train: TrainingSettings) -> TrainingSettings:
    """The project's train section for one CPU epoch, validated."""
    return train.model_copy(update={"epochs": 1, "val_every": 1, "device": "cpu"})


def segmentation_bench(project_name: str, steps: int, scratch: Path) -> KindBench:
    """A segmentation project's drawn patch batches, its task and the textbook MONAI loop."""
    binding, project = SEGMENTATION[project_name]
    settings = binding.load([f"data.root={scratch / project_name}"], environ={})
    data = project.load_data(settings)
    loader, val_loader = data_loaders(settings, data)
    batches = _drawn(loader, steps)
    torch.manual_seed(0)
    template = build_segmentation_network(settings.model, num_classes=len(data.labels))
    names = list(data.dataset.foreground_labels.values())
    task = SegmentationTask(copy.deepcopy(template), settings, names)
    bare = copy.deepcopy(template.exportable())
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(
        bare.parameters(), lr=settings.train.learning_rate, weight_decay=settings.train.weight_decay
    )
    bare.train()

    def bare_step(batch: dict[str, torch.Tensor]) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(bare(plain_tensor(batch["image"])), plain_tensor(batch["label"]))
        loss.backward()
        optimizer.step()

    val = _fixed([next(iter(val_loader))])
    return KindBench(project_name, task, one_epoch(settings.train), _fixed(batches), val, bare_step)


def classification_bench(steps: int, scratch: Path) -> KindBench:
    """cxr-cls's drawn (augmented) batches, its task and a bare masked-BCE loop."""
    settings = cxr_cls_settings.BINDING.load([f"data.root={scratch / 'cxr-cls'}"], environ={})
    inputs = read_training_inputs(cxr_cls_settings.PROJECT, settings)
    torch.manual_seed(0)
    template = build_classifier(settings.model, len(inputs.data.labels))
    setup = training_setup(
        copy.deepcopy(template),
        inputs.train_items,
        inputs.val_items,
        train=settings.train,
        seed=settings.seed,
    )
    batches = _drawn(setup.train_loader, steps)
    bare = copy.deepcopy(template)
    pos_weight = setup.task.get_buffer("pos_weight")
    optimizer = torch.optim.AdamW(
        bare.parameters(), lr=settings.train.learning_rate, weight_decay=settings.train.weight_decay
    )
    bare.train()

    def bare_step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        images, labels = batch
        optimizer.zero_grad(set_to_none=True)
        loss = masked_bce_with_logits(bare(images), labels, pos_weight)
        loss.backward()
        optimizer.step()

    val = _fixed([next(iter(setup.val_loader))])
    return KindBench(
        "cxr-cls", setup.task, one_epoch(settings.train), _fixed(batches), val, bare_step
    )


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """The block with ``count`` torch threads (unchanged when None)."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def measure(bench: KindBench, rounds: int) -> tuple[list[float], list[float]]:
    """Warm both up (allocator, oneDNN primitives), then alternate timed rounds."""
    bench.engine_round()
    bench.bare_round()
    engine, bare = [], []
    for _ in range(rounds):
        engine.append(bench.engine_round())
        bare.append(bench.bare_round())
    return engine, bare


def main() -> None:
    """Measure each project's engine and bare loops side by side; print times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", nargs="+", default=["ct-seg", "cxr-cls", "brain-mri"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="steps per loop per round")
    args = parser.parse_args()

    def ms(times: list[float]) -> str:
        return ", ".join(f"{t * 1000:.1f}" for t in times)

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.projects:
            if name == "cxr-cls":
                bench = classification_bench(args.steps, Path(scratch))
                count = bench.train.torch_threads
            else:
                bench = segmentation_bench(name, args.steps, Path(scratch))
                count = None
            with threads(count):
                engine, bare = measure(bench, args.rounds)
            engine_median, bare_median = statistics.median(engine), statistics.median(bare)
            rows.append((name, engine_median, bare_median))
            used = count or torch.get_num_threads()
            print(f"{name}: {args.rounds} rounds x {args.steps} steps, {used} threads")
            print(f"  bare PyTorch loop : {bare_median * 1000:8.1f} ms/step ({ms(bare)})")
            print(f"  medai.engine      : {engine_median * 1000:8.1f} ms/step ({ms(engine)})")
            print(f"  ratio engine/bare : {engine_median / bare_median:8.3f}  (target <= 1.10)")
    print("summary: " + "; ".join(f"{n} {e / b:.3f}" for n, e, b in rows))


if __name__ == "__main__":
    main()
