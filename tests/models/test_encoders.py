"""3D encoders: fixed token count, locality, freezing, and strict external weight loading."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from vipet.errors import TrainError
from vipet.models.encoders import EncoderConfig, VisionEncoder, build_encoder, load_encoder_weights
from vipet.models.registry import encoder_kinds, register_encoder

SMALL = dict(input_size=(8, 16, 16), token_grid=(1, 2, 2), out_dim=32)
CONFIGS = {
    "cnn3d": EncoderConfig(kind="cnn3d", channels=(8, 16), **SMALL),
    "vit3d": EncoderConfig(kind="vit3d", patch_size=(4, 4, 4), depth=2, heads=4, **SMALL),
}


@pytest.mark.parametrize("kind", ["cnn3d", "vit3d"])
def test_token_count_is_fixed_by_the_token_grid(kind):
    torch.manual_seed(0)
    encoder = build_encoder(CONFIGS[kind])
    tokens = encoder(torch.rand(3, 2, 8, 16, 16))
    assert tokens.shape == (3, 4, 32)
    tokens.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


def test_a_volume_of_another_size_is_refused_naming_both_shapes():
    encoder = build_encoder(CONFIGS["cnn3d"])
    message = (r"^encoder input_size is \(8, 16, 16\) but the volumes are \(11, 20, 13\): build with "
               r"--target-shape 8,16,16, set encoder.input_size to the build's shape, or set encoder.resize_input$")
    with pytest.raises(TrainError, match=message):
        encoder(torch.rand(1, 2, 11, 20, 13))


def test_resize_input_resamples_with_the_build_resizer():
    """Asked for, the resize is `vipet.imaging.resize` (antialiased), not a trilinear sample."""
    from vipet.imaging.resize import resize_box
    from vipet.models.encoders import resize_volumes

    volume = torch.rand(2, 2, 16, 32, 32)
    resized = resize_volumes(volume, (8, 16, 16))
    assert resized.shape == (2, 2, 8, 16, 16) and resized.dtype == volume.dtype
    assert torch.equal(resized[1, 0], torch.from_numpy(resize_box(volume[1, 0].numpy(), (8, 16, 16))))
    # Shrinking by 2 with the antialiased kernel averages neighbours; a trilinear sample would not.
    assert resized.std() < volume.std() * 0.6
    torch.manual_seed(0)
    encoder = build_encoder(EncoderConfig(kind="cnn3d", channels=(8, 16), resize_input=True, **SMALL)).eval()
    with torch.no_grad():
        assert torch.equal(encoder(volume), encoder(resized))


def test_cnn_tokens_keep_where_a_hot_spot_is():
    """A hot voxel in one quadrant changes that quadrant's token more than the opposite one."""
    torch.manual_seed(0)
    encoder = build_encoder(CONFIGS["cnn3d"]).eval()
    base = torch.zeros(1, 2, 8, 16, 16)
    hot = base.clone()
    hot[0, 0, 4, 2, 2] = 1.0  # token grid (1, 2, 2): this is token 0 (y low, x low); token 3 is opposite
    with torch.no_grad():
        delta = (encoder(hot) - encoder(base)).norm(dim=-1)[0]
    assert delta[0] > 3 * delta[3]


def test_bad_input_and_config_are_named():
    encoder = build_encoder(CONFIGS["cnn3d"])
    with pytest.raises(TrainError, match=r"expects \(B, 2, D, H, W\)"):
        encoder(torch.rand(2, 3, 8, 16, 16))
    with pytest.raises(TrainError, match="not divisible by patch_size"):
        EncoderConfig(kind="vit3d", input_size=(8, 16, 15), patch_size=(4, 4, 4), token_grid=(1, 2, 2))
    with pytest.raises(TrainError, match="encoder kind"):
        EncoderConfig(kind="resnet")


def test_freeze_stops_gradients():
    encoder = build_encoder(EncoderConfig(kind="cnn3d", channels=(8, 16), freeze=True, **SMALL))
    assert not any(p.requires_grad for p in encoder.parameters())


def test_pretrained_weights_round_trip_with_prefix(tmp_path):
    torch.manual_seed(0)
    source = build_encoder(CONFIGS["vit3d"])
    path = tmp_path / "ct_clip.safetensors"
    save_file({f"visual.{k}": v.contiguous() for k, v in source.state_dict().items()} | {"text.w": torch.zeros(2)}, str(path))
    torch.manual_seed(1)
    config = EncoderConfig(kind="vit3d", patch_size=(4, 4, 4), depth=2, heads=4, pretrained=str(path),
                           pretrained_prefix="visual.", **SMALL)
    loaded = build_encoder(config).eval()
    x = torch.rand(2, 2, 8, 16, 16)
    assert torch.equal(loaded(x), source.eval()(x))


def test_pretrained_weights_refuse_shape_mismatch_and_missing_tensors(tmp_path):
    encoder = build_encoder(CONFIGS["cnn3d"])
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    wrong = dict(state)
    wrong["to_tokens.weight"] = torch.zeros(5, 5)
    save_file(wrong, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(TrainError, match=r"shape mismatch.*to_tokens.weight: checkpoint \(5, 5\)"):
        load_encoder_weights(encoder, tmp_path / "wrong.safetensors")
    partial = {k: v for k, v in state.items() if not k.startswith("stages.")}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(TrainError, match="missing from the checkpoint"):
        load_encoder_weights(encoder, tmp_path / "partial.pt")
    report = load_encoder_weights(encoder, tmp_path / "partial.pt", allow_partial=True)
    assert report["missing"] and all(k.startswith("stages.") for k in report["missing"])
    with pytest.raises(TrainError, match="not found"):
        load_encoder_weights(encoder, tmp_path / "absent.pt")


def test_registered_encoder_is_buildable_by_kind():
    class MeanEncoder(VisionEncoder):
        def __init__(self, config):
            super().__init__(config)
            self.proj = torch.nn.Linear(2, config.out_dim)

        def encode_tokens(self, volume):
            pooled = torch.nn.functional.adaptive_avg_pool3d(volume, self.config.token_grid)
            return self.proj(pooled.flatten(2).transpose(1, 2))

    register_encoder("mean-test", MeanEncoder)
    assert "mean-test" in encoder_kinds()
    encoder = build_encoder(EncoderConfig(kind="mean-test", **SMALL))
    assert encoder(torch.rand(1, 2, 8, 16, 16)).shape == (1, 4, 32)
