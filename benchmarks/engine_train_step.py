"""Time per training step: the training engine against a bare PyTorch loop, per kind.

For each project (ct-seg and brain-mri: segmentation; cxr-cls: classification) both
loops get what the kind's ``train`` builds: the project's own network
(``project.build_network``, e.g. brain-mri's SegResNet) with the same initial weights,
its normaliser, its loss (softmax Dice + cross-entropy over labels, or sigmoid Dice +
BCE per region: ``RegionLoss``), the same AdamW and learning rate, and the very same
batches (drawn once from the project's own loaders on the development config, served by
one DataLoader). So the ratio isolates what the engine adds per step: Lightning's loop,
hooks, optimiser closure, batch transfer, autocast and loss scaling, and the engine's
loss accumulation. The bare loop is the textbook one: model and batches ``.to(device)``,
``torch.autocast`` for bf16-mixed, ``GradScaler`` with float16 autocast for 16-mixed.

The two loops alternate in rounds so that machine noise hits both. In each round the
first step is untimed in both loops (the engine creates its optimiser state there, once
per fit); the clock runs from the end of that step to the end of the last, and on CUDA
after ``torch.cuda.synchronize()`` at both ends. Validation and checkpointing after the
engine's steps are not steps and are not timed.

    uv run python benchmarks/engine_train_step.py [--projects ct-seg cxr-cls brain-mri]
        [--rounds 5] [--steps 8] [--device {cpu,cuda}] [--precision {32,bf16-mixed,16-mixed}]
        [--threads N]

Target: ratio <= 1.10 for every kind. Nothing here opens an MLflow run: the engine's
``fit`` is called directly, without ``medai.engine.run``'s tracking.
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
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
from medai.classification.networks import check_network_fits as check_classifier_fits
from medai.classification.training import masked_bce_with_logits, plain_tensors, training_setup
from medai.classification.training_inputs import read_training_inputs
from medai.config import ConfigError
from medai.engine.devices import DevicePlan, plan_devices
from medai.engine.fit import fit
from medai.engine.settings import Device, Precision, TrainingSettings
from medai.engine.task import TrainingTask
from medai.segmentation.task import RegionLoss, plain_tensor, prepare_fit

SEGMENTATION: dict[str, tuple[Any, Any]] = {
    "ct-seg": (ct_seg_settings.BINDING, ct_seg_settings.PROJECT),
    "brain-mri": (brain_mri_settings.BINDING, brain_mri_settings.PROJECT),
}
PROJECTS = ("ct-seg", "cxr-cls", "brain-mri")
DEVICES: tuple[Device, ...] = ("cpu", "cuda")
PRECISIONS: tuple[Precision, ...] = ("32", "bf16-mixed", "16-mixed")
FLAGS = {"train.device": "--device", "train.precision": "--precision"}

CLASSIFIER_CHANNELS = 1
"""A prepared radiograph's channels, as ``medai.classification.training_run`` trains them
(that module imports MLflow, so its constant is not imported here)."""

Batches = DataLoader[Any]
Step = Callable[[Any], None]


def synchronizer(devices: DevicePlan) -> Callable[[], None]:
    """What to call before reading the clock: wait for queued CUDA work (a no-op on a CPU)."""
    if devices.accelerator == "cuda":
        return torch.cuda.synchronize
    return lambda: None


class StepTimer(Callback):
    """Seconds from the end of the first training batch to the end of the last."""

    def __init__(self, sync: Callable[[], None]) -> None:
        """Nothing timed yet; ``sync`` runs before each clock reading."""
        self.sync = sync
        self.started = 0.0
        self.ended = 0.0
        self.steps = 0

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,  # noqa: ARG002
        outputs: object,  # noqa: ARG002
        batch: object,  # noqa: ARG002
        batch_idx: int,
    ) -> None:
        """Start the clock after the first step, stop it after the last (synchronised)."""
        if batch_idx == 0:
            self.sync()
            self.started = time.perf_counter()
        elif batch_idx == trainer.num_training_batches - 1:
            self.sync()
            self.ended = time.perf_counter()
        self.steps = batch_idx

    def per_step(self) -> float:
        """Mean seconds per timed step (all but the first)."""
        return (self.ended - self.started) / self.steps


@dataclass
class KindBench:
    """One project's batches, its engine task and settings, and the bare loop's step.

    Attributes:
        session: The block both loops run in, as the kind's ``train`` runs its fit
            (cxr-cls: its torch threads and plain tensors; segmentation: torch's
            threads), or with the threads of ``--threads``.
    """

    project: str
    task: TrainingTask
    train: TrainingSettings
    devices: DevicePlan
    batches: Batches
    val: Batches
    bare_step: Step
    session: Callable[[], AbstractContextManager[None]] = nullcontext

    def engine_round(self) -> float:
        """Seconds per step of one engine epoch over the batches."""
        timer = StepTimer(synchronizer(self.devices))
        with tempfile.TemporaryDirectory() as checkpoints:
            fit(
                self.task,
                self.batches,
                self.val,
                train=self.train,
                devices=self.devices,
                checkpoint_dir=Path(checkpoints),
                callbacks=[timer],
            )
        return timer.per_step()

    def bare_round(self) -> float:
        """Seconds per step of the bare loop over the same batches (the first untimed)."""
        sync = synchronizer(self.devices)
        batches = iter(self.batches)
        self.bare_step(next(batches))
        sync()
        start = time.perf_counter()
        steps = 0
        for batch in batches:
            self.bare_step(batch)
            steps += 1
        sync()
        return (time.perf_counter() - start) / steps


def _fixed(batches: list[Any]) -> Batches:
    """The drawn batches, each served as it is."""
    return DataLoader(batches, batch_size=None, shuffle=False)  # type: ignore[arg-type]


def _drawn(loader: Batches, count: int) -> list[Any]:
    batches: list[Any] = []
    while len(batches) < count:
        batches.extend(loader)
    return batches[:count]


def one_epoch(train: TrainingSettings) -> TrainingSettings:
    """The project's train section for one epoch, validated after it."""
    return train.model_copy(update={"epochs": 1, "val_every": 1})


@dataclass(frozen=True)
class Choices:
    """What the command line chose, the same for every project.

    Attributes:
        steps: Timed steps per loop per round (one more is drawn: the untimed first).
        scratch: A scratch folder for the generated data.
        device: ``train.device``.
        precision: ``train.precision``.
        threads: Torch CPU threads of both loops; None: as the kind trains.
    """

    steps: int
    scratch: Path
    device: Device
    precision: Precision
    threads: int | None = None

    def overrides(self, name: str) -> list[str]:
        """The ``--set`` overrides of ``name``: scratch data, the device and precision."""
        return [
            f"data.root={self.scratch / name}",
            f"train.device={self.device}",
            f"train.precision={self.precision}",
        ]


def bare_step_for(
    network: torch.nn.Module,
    loss_of: Callable[[torch.nn.Module, Any, torch.device], torch.Tensor],
    train: TrainingSettings,
    devices: DevicePlan,
) -> Step:
    """The textbook step of ``network`` on ``devices``: autocast and loss scaling as asked.

    Args:
        network: The bare loop's own copy of the network (moved to the device here).
        loss_of: The batch's loss under ``network``, its tensors moved to the device.
        train: Learning rate and weight decay (AdamW, as the engine's).
        devices: The device and precision (``plan_devices``).
    """
    device = devices.torch_device
    network.to(device)
    network.train()
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay
    )
    autocast = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(devices.precision)
    scaler = torch.amp.GradScaler(device.type) if devices.precision == "16-mixed" else None

    def step(batch: Any) -> None:  # noqa: ANN401 - a kind's batch
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            loss = loss_of(network, batch, device)
        if scaler is None:
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            optimizer.step()
        else:
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            scaler.step(optimizer)
            scaler.update()

    return step


def segmentation_bench(name: str, run: Choices) -> KindBench:
    """A segmentation project's drawn patch batches, its task and the textbook MONAI loop.

    Built by ``medai.segmentation.task.prepare_fit``, as ``train`` builds its fit: the
    project's network, normaliser, regions and loaders.
    """
    binding, project = SEGMENTATION[name]
    settings = binding.load(run.overrides(name), environ={})
    prepared = prepare_fit(project, settings)  # what train() builds, nothing else
    devices, regions, task = prepared.devices, prepared.data.regions, prepared.task
    bare_network = copy.deepcopy(prepared.network)  # the initial weights, before the task trains
    batches = _drawn(prepared.train_loader, run.steps + 1)
    loss_fn: torch.nn.Module = (
        DiceCELoss(to_onehot_y=True, softmax=True) if regions is None else RegionLoss()
    )
    if type(loss_fn) is not type(task.loss):  # the bare loop must train what the task trains
        message = f"{name}: the task trains with {type(task.loss).__name__}, the bare loop not"
        raise TypeError(message)
    loss_fn.to(devices.torch_device)

    def loss_of(model: torch.nn.Module, batch: Any, on: torch.device) -> torch.Tensor:  # noqa: ANN401
        image = plain_tensor(batch["image"]).to(on)
        label = plain_tensor(batch["label"]).to(on)
        loss: torch.Tensor = loss_fn(model(image), label)
        return loss

    return KindBench(
        name,
        task,
        one_epoch(settings.train),
        devices,
        _fixed(batches),
        _fixed([next(iter(prepared.val_loader))]),
        bare_step_for(bare_network, loss_of, settings.train, devices),
        lambda: threads(run.threads),
    )


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """The block with ``count`` torch threads (unchanged when None), as cxr-cls trains."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def classification_bench(run: Choices) -> KindBench:
    """cxr-cls's drawn (augmented) batches, its task and a bare masked-BCE loop.

    Built as ``medai.classification.training_run.train`` builds its fit: the project's
    network, ``training_setup``'s task and loaders, its threads (``train.torch_threads``
    unless ``run.threads`` says otherwise) and plain tensors.
    """
    project = cxr_cls_settings.PROJECT
    settings = cxr_cls_settings.BINDING.load(run.overrides("cxr-cls"), environ={})
    devices = plan_devices(settings.train)
    inputs = read_training_inputs(project, settings)
    labels = len(inputs.data.labels)
    torch.manual_seed(settings.seed)
    network = project.build_network(settings, CLASSIFIER_CHANNELS, labels)
    check_classifier_fits(network, CLASSIFIER_CHANNELS, labels, settings.preprocessing.image_size)

    @contextmanager
    def session() -> Iterator[None]:
        count = settings.train.torch_threads if run.threads is None else run.threads
        with threads(count), plain_tensors():
            yield

    with session():
        setup = training_setup(
            copy.deepcopy(network),
            inputs.train_items,
            inputs.val_items,
            train=settings.train,
            seed=settings.seed,
        )
        batches = _drawn(setup.train_loader, run.steps + 1)
    pos_weight = setup.task.get_buffer("pos_weight").to(devices.torch_device)

    def loss_of(model: torch.nn.Module, batch: Any, on: torch.device) -> torch.Tensor:  # noqa: ANN401
        images, targets = batch
        return masked_bce_with_logits(model(images.to(on)), targets.to(on), pos_weight)

    return KindBench(
        "cxr-cls",
        setup.task,
        one_epoch(settings.train),
        devices,
        _fixed(batches),
        _fixed([next(iter(setup.val_loader))]),
        bare_step_for(copy.deepcopy(network), loss_of, settings.train, devices),
        session,
    )


def measure(bench: KindBench, rounds: int) -> tuple[list[float], list[float]]:
    """Warm both up (allocator, oneDNN / cuDNN kernels), then alternate timed rounds."""
    with bench.session():
        bench.engine_round()
        bench.bare_round()
        engine, bare = [], []
        for _ in range(rounds):
            engine.append(bench.engine_round())
            bare.append(bench.bare_round())
    return engine, bare


def check_devices(device: Device, precision: Precision) -> DevicePlan:
    """The plan for the flags, or one line naming the flag the machine cannot honour."""
    try:
        return plan_devices(TrainingSettings(device=device, precision=precision))
    except ConfigError as exc:
        flag = FLAGS.get(exc.key or "", "--device")
        value = device if flag == "--device" else precision
        raise SystemExit(f"error: {flag} {value}: {exc.problem}") from None


def describe(devices: DevicePlan, precision: Precision) -> str:
    """Where the benchmark runs, in one line (the GPU's name on CUDA)."""
    if devices.accelerator == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(devices.torch_device)})"
    else:
        where = f"cpu ({torch.get_num_threads()} torch threads by default)"
    return f"device: {where}; precision: {precision}; torch {torch.__version__}"


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--projects", nargs="+", choices=PROJECTS, default=list(PROJECTS))
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per loop")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per loop per round")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="train.device")
    parser.add_argument("--precision", choices=PRECISIONS, default="32", help="train.precision")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads for both loops (default: as the kind trains); "
        "1 keeps a busy, shared CPU from stalling a parallel region mid-step",
    )
    args = parser.parse_args(argv)
    if min(args.rounds, args.steps, args.threads or 1) < 1:
        parser.error("--rounds, --steps and --threads must be at least 1")
    return args


def main() -> None:
    """Measure each project's engine and bare loops side by side; print times and ratios."""
    args = arguments()
    # Lightning's start-up lines (GPU available, fit stopped) for every fit would bury the table.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    devices = check_devices(args.device, args.precision)
    print(describe(devices, args.precision), flush=True)

    def ms(times: list[float]) -> str:
        return ", ".join(f"{t * 1000:.1f}" for t in times)

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        run = Choices(args.steps, Path(scratch), args.device, args.precision, args.threads)
        for name in args.projects:
            if name == "cxr-cls":
                bench = classification_bench(run)
            else:
                bench = segmentation_bench(name, run)
            engine, bare = measure(bench, args.rounds)
            with bench.session():
                used = torch.get_num_threads()
            engine_median, bare_median = statistics.median(engine), statistics.median(bare)
            rows.append((name, engine_median, bare_median))
            print(f"{name}: {args.rounds} rounds x {args.steps} steps, {used} threads")
            print(f"  bare PyTorch loop : {bare_median * 1000:8.1f} ms/step ({ms(bare)})")
            print(f"  medai.engine      : {engine_median * 1000:8.1f} ms/step ({ms(engine)})")
            print(f"  ratio engine/bare : {engine_median / bare_median:8.3f}  (target <= 1.10)")
            print(flush=True)
    ratios = "; ".join(f"{n} {e / b:.3f}" for n, e, b in rows)
    print(f"summary ({args.device}, {args.precision}): engine/bare {ratios} (target <= 1.10)")


if __name__ == "__main__":
    main()
