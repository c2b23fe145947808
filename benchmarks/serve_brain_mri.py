"""Serving throughput of brain-mri: our server against the raw ONNX Runtime session, side by side.

One run trains and registers brain-mri's network as its config defines it
(``configs/model_configs/brain-mri.yaml``, four channels in, one sigmoid output per
tumour region) for one epoch on a few phantoms in a throwaway MLflow store, never the
user's (the weights do not change the speed); materializes it as ``invoke serve``
does; draws one synthetic T1/T1c/T2/FLAIR case at the phantoms' configured shape and
spacing (the development config trains at that spacing, so nothing is resampled); and
measures, one at a time on this machine:

1. raw ONNX Runtime in-process (the limit): the served model's ``segment`` (the
   ``OnnxSegmenter`` the server's loader builds, with the card, the settings and the
   project's normaliser) on the already decoded four-channel volume: normalisation,
   sliding window and the regions painted back, without HTTP, multipart, gzip or NIfTI
   coding;
2. our server: ``uvicorn --factory brain_mri.api.main:create_app`` (ONNX backend), POST
   ``/v1/predict`` with (a) one 4D NIfTI in ``file``, (b) four 3D NIfTI parts named after
   the model's channels (``t1``, ``t1c``, ``t2``, ``flair``), a ``.nii.gz`` mask back.

The files are written as brain-mri's dataset writes its MSD and nnU-Net layouts; both
masks from the server are compared voxel for voxel with the in-process one.

    uv run python benchmarks/serve_brain_mri.py [--seconds 20] [--clients 4]

Target: our server >= 80% of the raw session's volumes/s at 4 clients, for both uploads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from serving_harness import (
    NIFTI_GZ,
    Files,
    LoadResult,
    Registered,
    check_mask,
    http_clients,
    phase,
    post_predict,
    predict_request,
    register_and_materialize,
    report,
    run_interleaved,
    scratch_root,
    server_env,
    serving,
    share_line,
    table_header,
    verdict,
)

from brain_mri.data.layouts import FILE_ENDING, write_case
from brain_mri.data.synthetic import CHANNELS, PhantomSpec, generate_phantom_case
from brain_mri.settings import BINDING, PROJECT, BrainMriSettings
from medai.io import ChannelVolume, read_channels
from medai.segmentation.serving.model import SegmentationServedModel, model_loaders

APP_FACTORY = "brain_mri.api.main:create_app"
TARGET_VS_RAW = 0.80
CASE_INDEX = 1000
"""Not one of the training cases (0..n_cases-1): the speed does not care, a reader might."""
CASE_SEED = 7


# ----------------------------------------------------------------------------- setup


def train_and_materialize(root: Path) -> Registered[BrainMriSettings]:
    """One epoch of the configured network on 4 phantoms in ``root``; registered, materialized.

    Only the data and the epochs shrink: the network, patch size and sliding window are
    the development config's, which is what a developer's ``invoke serve`` serves.
    """
    from medai.segmentation.training import train  # noqa: PLC0415 - torch and MONAI: setup only

    overrides = [
        "data.synthetic.n_cases=4",
        "train.epochs=1",
        "train.val_every=1",
        f"evaluate.output_dir={root / 'evaluation'}",
    ]
    return register_and_materialize(BINDING, lambda s: train(PROJECT, s), root, overrides)


def served_model(registered: Registered[BrainMriSettings]) -> SegmentationServedModel:
    """The model exactly as the server loads it: the project's ONNX loader, card and settings.

    Raises:
        RuntimeError: The config serves another backend (the comparison would be moot),
            or the model does not take several channels.
        TypeError: The loader returned something other than a segmentation model.
    """
    backend = registered.settings.api.backend
    if backend != "onnx":
        raise RuntimeError(f"api.backend is {backend!r}; this benchmark measures 'onnx'")
    served = model_loaders(PROJECT)["onnx"](registered.model_dir, registered.settings)
    if not isinstance(served, SegmentationServedModel):
        raise TypeError(f"the segmentation loader returned a {type(served).__name__}")
    if not served.multichannel:
        raise RuntimeError(f"the model takes {list(served.channels) or 'one channel'}, not four")
    return served


@dataclass(frozen=True)
class TestCase:
    """The one case every contender segments: its files and the volume the server decodes."""

    four_d: Path
    parts: tuple[Path, ...]
    volume: ChannelVolume


def write_test_case(root: Path, settings: BrainMriSettings, channels: Sequence[str]) -> TestCase:
    """One phantom at the configured shape and spacing, in both layouts, in ``channels`` order.

    Raises:
        ValueError: The model takes a channel the phantoms do not have.
    """
    drawn = [name.lower() for name in CHANNELS]
    missing = [name for name in channels if name.lower() not in drawn]
    if missing:
        raise ValueError(f"the model takes {list(channels)}; the phantoms have {list(CHANNELS)}")
    order = [drawn.index(name.lower()) for name in channels]
    phantoms = settings.data.synthetic
    spec = PhantomSpec(shape=phantoms.shape, spacing=phantoms.spacing, noise=phantoms.noise)
    case = generate_phantom_case(CASE_INDEX, seed=CASE_SEED, spec=spec)
    image = np.ascontiguousarray(case.image[..., order])
    paths: dict[str, list[Path]] = {}
    for layout in ("msd", "nnunet"):
        folder = root / layout
        for sub in ("imagesTr", "labelsTr"):
            (folder / sub).mkdir(parents=True)
        write_case(folder, layout, "bench", image, case.label, case.affine)
        paths[layout] = sorted((folder / "imagesTr").glob(f"*{FILE_ENDING}"))
    four_d = paths["msd"][0]
    volume = read_channels([four_d], channels)
    from_parts = read_channels(paths["nnunet"], channels)
    if not np.array_equal(volume.array, from_parts.array):
        raise RuntimeError("the 4D file and the per-channel files decode to different voxels")
    return TestCase(four_d, tuple(paths["nnunet"]), volume)


def uploads(case: TestCase, channels: Sequence[str]) -> dict[str, Files]:
    """The two request bodies: one 4D NIfTI in ``file``; one part per channel, named after it."""
    return {
        "4D NIfTI": {"file": ("volume.nii.gz", case.four_d.read_bytes(), NIFTI_GZ)},
        "4 parts": {
            name.lower(): (f"{name.lower()}.nii.gz", path.read_bytes(), NIFTI_GZ)
            for name, path in zip(channels, case.parts, strict=True)
        },
    }


def describe(served: SegmentationServedModel, settings: BrainMriSettings, case: TestCase) -> None:
    """What is measured: the network as configured, the grid, the window, the uploads."""
    from medai.segmentation.serving.model import settings_from_card  # noqa: PLC0415

    prep, inference = settings_from_card(served.card, settings)
    volume = case.volume
    sizes = ", ".join(f"{path.stat().st_size / 1e3:.0f}" for path in case.parts)
    print(f"network (model config): {settings.model.model_dump(mode='json')}")
    print(
        f"channels {list(served.channels)}, regions "
        f"{list(served.regions.names) if served.regions else None}"
    )
    print(
        f"test volume {volume.array.shape} at {volume.spacing} mm (model spacing "
        f"{prep.target_spacing}); 4D upload {case.four_d.stat().st_size / 1e3:.0f} kB, "
        f"parts {sizes} kB; patch {prep.patch_size}, overlap {inference.overlap}, "
        f"sw_batch {inference.sw_batch_size}, blend {inference.blend_mode}, "
        f"normalize {prep.normalize}"
    )
    if not np.allclose(volume.spacing, prep.target_spacing):
        print("note: the test volume is resampled to the model's spacing (both sides do it)")


# ----------------------------------------------------------------------------- measure

RAW = "raw ONNX Runtime in-process"
SERVER = "our server, "


@dataclass(frozen=True)
class Measured:
    """Every contender at 1 client and at ``clients``, the masks checked, the server alive."""

    single: dict[str, LoadResult]
    loaded: dict[str, LoadResult]
    mismatched_voxels: dict[str, int]
    alive: bool


def measure(
    served: SegmentationServedModel,
    case: TestCase,
    root: Path,
    model_dir: Path,
    args: argparse.Namespace,
) -> Measured:
    """The raw session and each upload, side by side: turns interleaved, at 1 and N clients.

    The server idles while the raw session runs in this process, and the other way round.
    """
    reference = served.segment(case.volume)
    print(f"in-process mask: labels {np.unique(reference).tolist()}")

    def raw(_: int) -> None:
        served.segment(case.volume)

    contenders: dict[str, Callable[[int], None]] = {RAW: raw}
    mismatched = {}
    env = server_env(model_dir, root)
    with (
        serving(APP_FACTORY, env, root / "server.log") as server,
        http_clients(args.clients) as clients,
    ):
        for label, files in uploads(case, served.channels).items():
            response = post_predict(clients[0], server.url, files)
            mismatched[label] = check_mask(label, response, reference)
            contenders[SERVER + label] = predict_request(server.url, clients, files)
        for request in contenders.values():
            request(0)  # warm-up
        single = run_interleaved(contenders, 1, args.seconds / 2, args.rounds)
        for result in single.values():
            report(result)
        loaded = run_interleaved(contenders, args.clients, args.seconds, args.rounds)
        for result in loaded.values():
            report(result)
        alive = server.alive
    return Measured(single, loaded, mismatched, alive)


def print_summary(measured: Measured) -> None:
    """The table, each upload's share of the raw session against the target, the masks."""
    phase("summary")
    print(table_header())
    for results in (measured.single, measured.loaded):
        for result in results.values():
            print(result.line())
    print()
    for label in measured.mismatched_voxels:
        served = SERVER + label
        print(share_line(served, measured.loaded[served], measured.loaded[RAW], TARGET_VS_RAW))
        at_one = measured.single[served].throughput / measured.single[RAW].throughput
        print(f"  at 1 client: {at_one:.1%} of {measured.single[RAW].throughput:.2f}/s")
    for label, voxels in measured.mismatched_voxels.items():
        print(
            f"mask from the server ({label}) vs in-process: {voxels} voxels differ  "
            f"{verdict(voxels == 0)}"
        )
    print(f"server still running after the load: {measured.alive}  {verdict(measured.alive)}")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per throughput run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=4, help="turns each contender's time is split into"
    )
    return parser.parse_args()


def main() -> None:
    """Set up once, measure each contender alone, print the summary."""
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with scratch_root("serve-brain-mri-") as root:
        print("training and registering the configured network (1 epoch, 4 phantoms) ...")
        registered = train_and_materialize(root)
        print(
            f"brain-mri version {registered.version} trained in "
            f"{registered.train_seconds:.0f} s, materialized: {registered.model_dir}"
        )
        served = served_model(registered)
        case = write_test_case(root, registered.settings, served.channels)
        describe(served, registered.settings, case)

        phase(f"raw ONNX Runtime and our server, {args.rounds} interleaved turns each")
        measured = measure(served, case, root, registered.model_dir, args)
        print_summary(measured)


if __name__ == "__main__":
    main()
