import pytest
import torch
from monai.visualize import GradCAM

from medai.classification.networks import CamClassifier


def _normalised(maps):
    flat = maps.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    high = flat.max(dim=1, keepdim=True).values
    return ((flat - low) / (high - low)).view_as(maps)


def _mixed_sign_head(network):
    """Random weights of both signs: each CAM below is positive somewhere and zero elsewhere."""
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        network.classifier.weight.copy_(
            torch.randn(network.classifier.weight.shape, generator=generator)
        )
        network.classifier.bias.fill_(0.3)
    return network


def test_forward_gives_one_logit_per_label_and_exportable_adds_cams_at_input_size(
    network_factory,
):
    network = network_factory(num_labels=3).eval()
    image = torch.rand(2, 1, 32, 32)

    with torch.no_grad():
        logits = network(image)
        export_logits, cams = network.exportable()(image)

    assert logits.shape == (2, 3)
    assert torch.allclose(export_logits, logits)
    assert cams.shape == (2, 3, 32, 32)
    assert (cams >= 0).all()
    assert network.feature_maps(image).shape[-2:] == (32 // network.downsampling,) * 2


def test_cams_are_monai_gradcam_times_the_feature_map_area(network_factory):
    """For GAP + linear, d logit_k / d A_c = w_kc / (h w): Grad-CAM is the CAM over h w."""
    network = _mixed_sign_head(network_factory(num_labels=3)).eval()
    image = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, cams = network.exportable()(image)
        height, width = network.feature_maps(image).shape[-2:]
    gradcam = GradCAM(nn_module=network, target_layers="activation", postprocessing=lambda x: x)

    for label in range(3):
        expected = gradcam(image, class_idx=label).detach()[:, 0]
        ours = cams[:, label]

        # Both sides of the ReLU occur, or the comparison would prove less than it claims.
        assert (ours > 0).any()
        assert (ours == 0).any()
        assert torch.allclose(ours / (height * width), expected, rtol=1e-4, atol=1e-7)
        assert torch.allclose(_normalised(ours), _normalised(expected), atol=1e-5)


def test_cams_equal_a_manual_autograd_gradcam(network_factory):
    network = _mixed_sign_head(network_factory(num_labels=2)).eval()
    image = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    maps = network.feature_maps(image).detach().requires_grad_(True)  # noqa: FBT003
    logits = network.classifier(maps.mean(dim=(2, 3)))
    with torch.no_grad():
        _, cams = network.exportable()(image)

    for label in range(2):
        (gradient,) = torch.autograd.grad(logits[0, label], maps, retain_graph=True)
        weights = gradient.mean(dim=(2, 3), keepdim=True)
        coarse = torch.relu((weights * maps.detach()).sum(dim=1, keepdim=True))
        expected = torch.nn.functional.interpolate(
            coarse, size=(32, 32), mode="bilinear", align_corners=False
        )[:, 0]
        assert (expected > 0).any()
        assert torch.allclose(_normalised(cams[:, label]), _normalised(expected), atol=1e-5)


def test_the_bias_moves_logits_but_not_cams(network_factory):
    network = _mixed_sign_head(network_factory()).eval()
    image = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        logits_before, cams_before = network.exportable()(image)
        network.classifier.bias.add_(5.0)
        logits_after, cams_after = network.exportable()(image)

    assert torch.allclose(logits_after, logits_before + 5.0, atol=1e-5)
    assert torch.equal(cams_after, cams_before)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_labels": 0}, "num_labels must be at least 1, got 0"),
        ({"num_labels": 2, "in_channels": 0}, "in_channels must be at least 1, got 0"),
        ({"num_labels": 2, "block_config": ()}, "block_config must name at least one"),
    ],
)
def test_invalid_shapes_are_refused_with_the_argument_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        CamClassifier(**arguments)
