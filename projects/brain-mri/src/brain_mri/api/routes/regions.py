"""``GET /v1/regions``: brain-mri's nested tumour regions, as the served model outputs them.

A client that paints or reports brain-mri's mask needs to know which label value is which
region and which MSD labels each region covers (whole tumour = oedema + necrosis +
enhancing tumour, ...). That is a property of the model (its card records the regions it
was trained on), not of this server's config, so the route reads the served model.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from medai.segmentation.serving.model import SegmentationServedModel
from medai.serving import ApiError, ErrorResponse, ModelDep

router = APIRouter(prefix="/v1", tags=["model"])


class RegionDescription(BaseModel):
    """One region: its output channel, the labels it merges, the value it paints."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="The region (whole_tumor, tumor_core, enhancing_tumor).")
    channel: int = Field(description="The model's sigmoid output channel of this region.")
    labels: list[int] = Field(description="The dataset labels the region is the union of.")
    painted_as: int = Field(description="The label value the region paints in the mask.")


class RegionsResponse(BaseModel):
    """The served model's regions, in output-channel order."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "model": "brain-mri",
                    "version": "3",
                    "regions": [
                        {"name": "whole_tumor", "channel": 0, "labels": [1, 2, 3], "painted_as": 1},
                        {"name": "tumor_core", "channel": 1, "labels": [2, 3], "painted_as": 2},
                        {"name": "enhancing_tumor", "channel": 2, "labels": [3], "painted_as": 3},
                    ],
                }
            ]
        },
    )

    model: str
    version: str
    regions: list[RegionDescription]


@router.get(
    "/regions",
    summary="The tumour regions the model outputs",
    responses={409: {"model": ErrorResponse, "description": "The model has no regions."}},
)
async def regions(model: ModelDep) -> RegionsResponse:
    """Name, output channel, merged labels and painted value of each region."""
    served = cast("SegmentationServedModel", model)
    if served.regions is None:
        raise ApiError(
            409,
            "no_regions",
            f"{served.card.name} version {served.card.version} is a label model (softmax), "
            "not a region model: its labels are in GET /v1/model",
        )
    described = served.regions
    return RegionsResponse(
        model=served.card.name,
        version=served.card.version,
        regions=[
            RegionDescription(name=name, channel=channel, labels=list(labels), painted_as=painted)
            for channel, (name, labels, painted) in enumerate(
                zip(described.names, described.labels, described.class_order, strict=True)
            )
        ],
    )
