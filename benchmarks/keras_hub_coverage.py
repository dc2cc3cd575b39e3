"""keras-hub coverage: prune(0.5) -> slim -> TFLite on keras-hub's image backbones, as-is.

Every image backbone that ``keras_hub.models`` exposes is built **from a
config with random weights** (never ``from_preset``: no download), small
(few blocks, narrow widths, 32-126 px inputs) so the whole table runs in a
few minutes. keras-hub backbones are *functional subclasses*: classes that
subclass ``keras.Model`` and build a Functional graph in ``__init__``. They
are given to tfprune exactly as keras-hub returns them, never re-wrapped
with ``keras.Model(m.inputs, m.outputs)``.

Each one then goes through the pipeline of ``benchmarks/coverage.py``
(``_coverage_common.run_worker``): random BatchNorm statistics,
``tfprune.prune(model, "l1", sparsity=0.5, round_to=None)`` with the masks
applied at step 0, the masked model, ``strip_pruning`` and ``slim`` compared
on a batch of 2, and the slim model exported with ``export_tflite`` and run
with LiteRT. A row is

* **ok**: slim == masked == strip within 1e-5 x max|out|, fewer parameters,
  LiteRT == Keras within 1e-3 x max|out|;
* **refused**: tfprune raised one of its own errors (``tfprune.errors``), whose
  message is shown;
* **failed**: any other exception, or outputs that differ.

Usage::

    python benchmarks/keras_hub_coverage.py                     # every backbone
    python benchmarks/keras_hub_coverage.py --models 'ResNet*' VGGBackbone
    python benchmarks/keras_hub_coverage.py --models MiTBackbone --merge
    python benchmarks/keras_hub_coverage.py --list
    python benchmarks/keras_hub_coverage.py --render            # Markdown from the JSON

Results go (atomically) to ``benchmarks/results/keras_hub_coverage.json`` and
``.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _coverage_common import (
    MEASUREMENT_HEADER,
    RTOL,
    TFLITE_RTOL,
    add_arguments,
    base_meta,
    drive,
    measurement_cells,
    run_subprocess,
    run_worker,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


# --------------------------------------------------------------------------
# The backbones: small configs, random weights
# --------------------------------------------------------------------------


def _resnet(M, **kwargs):
    # keras-hub requires 64 filters in the first stage (and, for basic blocks,
    # a 64-filter stem so the first identity shortcut matches).
    return M.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=kwargs.pop("filters", [64, 32]),
        stackwise_num_blocks=kwargs.pop("blocks", [2, 1]),
        stackwise_num_strides=kwargs.pop("strides", [1, 2]),
        **kwargs,
    )


def _resnet4(M):
    """A 4-stage ResNet (P2..P5), the image encoder of the composite backbones."""
    return _resnet(M, block_type="basic_block", filters=[64, 32, 32, 32],
                   blocks=[1, 1, 1, 1], strides=[1, 2, 2, 2])


def _mit(M, size):
    return M.MiTBackbone(
        layerwise_depths=[1, 1], num_layers=2, hidden_dims=[8, 16],
        layerwise_num_heads=[1, 2], layerwise_sr_ratios=[4, 2], max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3], layerwise_strides=[4, 2], image_shape=(size, size, 3),
    )


def _dinov2(M, size, **kwargs):
    return M.DINOV2Backbone(
        patch_size=14, hidden_dim=16, num_heads=2, intermediate_dim=32,
        image_shape=(size, size, 3), position_embedding_shape=(size, size, 3), **kwargs,
    )


#: name -> (input side in pixels, builder(keras_hub.models) -> model).
BACKBONES: dict[str, tuple[int, Callable[[Any], Any]]] = {
    # Convolutional backbones.
    "ResNetBackbone": (64, lambda M: _resnet(
        M, block_type="bottleneck_block", image_shape=(64, 64, 3))),
    "ResNetBackbone (v2, pre-activation)": (64, lambda M: _resnet(
        M, block_type="basic_block", use_pre_activation=True, image_shape=(64, 64, 3))),
    "MobileNetBackbone": (64, lambda M: M.MobileNetBackbone(
        stackwise_expansion=[[32, 48], [64, 64]], stackwise_num_blocks=[2, 2],
        stackwise_num_filters=[[16, 16], [24, 24]], stackwise_kernel_size=[[3, 3], [5, 5]],
        stackwise_num_strides=[[2, 1], [2, 1]], stackwise_se_ratio=[[None, None], [0.25, 0.25]],
        stackwise_activation=[["relu", "relu"], ["hard_swish", "hard_swish"], ["hard_swish"]],
        stackwise_padding=[[1, 1], [2, 2]], output_num_filters=64, depthwise_filters=8,
        depthwise_stride=2, depthwise_residual=False, last_layer_filter=48,
        squeeze_and_excite=0.5, image_shape=(64, 64, 3))),
    "MobileNetV5Backbone": (64, lambda M: M.MobileNetV5Backbone(
        stackwise_block_types=[["er"], ["uir", "uir"]], stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[16], [24, 24]], stackwise_strides=[[2], [2, 1]],
        stackwise_act_layers=[["relu"], ["relu", "relu"]],
        stackwise_exp_ratios=[[4.0], [4.0, 4.0]], stackwise_se_ratios=[[0.0], [0.0, 0.0]],
        stackwise_dw_kernel_sizes=[[0], [5, 5]], stackwise_dw_start_kernel_sizes=[[0], [0, 0]],
        stackwise_dw_end_kernel_sizes=[[0], [0, 0]], stackwise_exp_kernel_sizes=[[3], [0, 0]],
        stackwise_pw_kernel_sizes=[[1], [0, 0]], stackwise_num_heads=[[0], [0, 0]],
        stackwise_key_dims=[[0], [0, 0]], stackwise_value_dims=[[0], [0, 0]],
        stackwise_kv_strides=[[0], [0, 0]], stackwise_use_cpe=[[False], [False, False]],
        image_shape=(64, 64, 3), stem_size=16, use_msfa=False)),
    "EfficientNetBackbone": (64, lambda M: M.EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3, 3, 3], stackwise_num_repeats=[1, 2, 1, 2],
        stackwise_input_filters=[16, 16, 24, 32], stackwise_output_filters=[16, 24, 32, 48],
        stackwise_expansion_ratios=[1, 4, 4, 4],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.0, 0.25, 0.25],
        stackwise_strides=[1, 2, 2, 1],
        stackwise_block_types=["fused", "fused", "unfused", "unfused"],
        stackwise_force_input_filters=[0] * 4, stackwise_nores_option=[False] * 4,
        width_coefficient=1.0, depth_coefficient=1.0, num_features=64,
        input_shape=(64, 64, 3))),
    "CSPNetBackbone": (64, lambda M: M.CSPNetBackbone(
        stem_filters=16, stem_kernel_size=3, stem_strides=1, stackwise_strides=2,
        stackwise_depth=[1, 2], stackwise_num_filters=[16, 32], down_growth=True,
        bottle_ratio=(0.5, 1.0), block_ratio=(1.0, 0.5), expand_ratio=(2.0, 1.0),
        block_type="dark_block", stage_type="csp", stem_padding="same",
        image_shape=(64, 64, 3))),
    "DenseNetBackbone": (64, lambda M: M.DenseNetBackbone(
        stackwise_num_repeats=[2, 2, 2], growth_rate=8, image_shape=(64, 64, 3))),
    "VGGBackbone": (64, lambda M: M.VGGBackbone(
        stackwise_num_repeats=[2, 2, 2], stackwise_num_filters=[16, 32, 32],
        image_shape=(64, 64, 3))),
    "XceptionBackbone": (64, lambda M: M.XceptionBackbone(
        stackwise_conv_filters=[[16, 32], [64, 64], [64, 64], [96, 96]],
        stackwise_pooling=[False, True, False, False], image_shape=(64, 64, 3))),
    "HGNetV2Backbone": (64, lambda M: M.HGNetV2Backbone(
        embedding_size=16, stem_channels=[3, 8, 16], hidden_act="relu",
        use_learnable_affine_block=False, depths=[1, 1], hidden_sizes=[32, 64],
        stackwise_stage_filters=[[16, 8, 32, 1, 1, 3], [32, 16, 64, 1, 1, 3]],
        apply_downsample=[False, True], use_lightweight_conv_block=[False, True],
        image_shape=(64, 64, 3))),
    # Transformers.
    "MiTBackbone": (64, lambda M: _mit(M, 64)),
    "ViTBackbone": (32, lambda M: M.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, mlp_dim=32)),
    "DeiTBackbone": (32, lambda M: M.DeiTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
        hidden_dim=16, intermediate_dim=32)),
    "DINOV2Backbone": (70, lambda M: _dinov2(M, 70, num_layers=2)),
    "DINOV3Backbone": (64, lambda M: M.DINOV3Backbone(
        patch_size=16, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32,
        num_register_tokens=4, image_shape=(64, 64, 3))),
    "SwinTransformerBackbone": (32, lambda M: M.SwinTransformerBackbone(
        image_shape=(32, 32, 3), embed_dim=16, depths=(1, 1), num_heads=(2, 2),
        window_size=4, drop_path=0.0)),
    "ViTDetBackbone": (32, lambda M: M.ViTDetBackbone(
        image_shape=(32, 32, 3), patch_size=4, hidden_size=16, num_layers=2,
        global_attention_layer_indices=[1], intermediate_dim=32, num_heads=2,
        num_output_channels=8, window_size=4)),
    # Segmentation / detection / depth backbones around an image encoder.
    "DeepLabV3Backbone": (64, lambda M: M.DeepLabV3Backbone(
        image_encoder=_resnet(M, block_type="basic_block"), low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P3", dilation_rates=[2, 4], upsampling_size=2,
        projection_filters=16, image_shape=(64, 64, 3))),
    "RetinaNetBackbone": (64, lambda M: M.RetinaNetBackbone(
        image_encoder=_resnet4(M), min_level=3, max_level=5, use_p5=True,
        image_shape=(64, 64, 3))),
    "BASNetBackbone": (64, lambda M: M.BASNetBackbone(
        image_encoder=_resnet4(M), num_classes=1,
        image_shape=(64, 64, 3))),
    "SegFormerBackbone": (64, lambda M: M.SegFormerBackbone(
        image_encoder=_mit(M, 64), projection_filters=16)),
    "DepthAnythingBackbone": (126, lambda M: M.DepthAnythingBackbone(
        image_encoder=_dinov2(M, 126, num_layers=4, apply_layernorm=True),
        reassemble_factors=[4, 2, 1, 0.5], neck_hidden_dims=[8, 16, 16, 16],
        fusion_hidden_dim=16, head_hidden_dim=8, head_in_index=-1,
        feature_keys=["stage1", "stage2", "stage3", "stage4"])),
}

#: Backbones of ``keras_hub.models`` that take images but are not in the
#: table, and why.
NOT_COVERED = {
    "DFineBackbone": "a DETR-style detector (HGNetV2 + transformer decoder with "
                     "denoising queries), not a feature backbone",
    "SAMBackbone": "promptable segmentation: points/boxes/masks inputs besides the image",
    "SAM3PromptableConceptBackbone": "promptable segmentation with text prompts",
    "VideoPrismBackbone": "video (frames x height x width) input",
    "PARSeqBackbone": "scene-text recognition: a text decoder on an image encoder",
    "FluxBackbone, StableDiffusion3Backbone": "text-to-image diffusion",
    "CLIPBackbone, SigLIPBackbone, MetaCLIP2Backbone, BLIP2Backbone, "
    "PaliGemmaBackbone, Gemma3Backbone, Gemma3nBackbone, Gemma4Backbone":
        "image-and-text models (their inputs include token ids)",
}


def _class_name(name: str) -> str:
    return name.split(" ")[0]


def build(name: str):
    import keras_hub

    return BACKBONES[name][1](keras_hub.models)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def status(r: dict[str, Any]) -> str:
    """ok / refused (a tfprune error) / failed (anything else)."""
    if r.get("status") == "ok":
        return "ok"
    if r.get("status") == "error" and r.get("tfprune_error"):
        return "refused"
    return "failed"


def _message(r: dict[str, Any]) -> str:
    if r.get("status") == "ok":
        return ""
    if r.get("status") == "mismatch":
        parts = []
        if not r.get("match"):
            parts.append(f"slim/masked differ from strip: rel {r.get('rel_diff', float('nan')):.1e}"
                         + (f" (float64: {r['rel_diff_float64']:.1e})"
                            if r.get("rel_diff_float64") is not None else ""))
        if r.get("tflite_ok") is False:
            parts.append(f"LiteRT differs from Keras by {r.get('diff_tflite_slim', float('nan')):.1e}")
        if r.get("params_after") is not None and r.get("params_after") >= r.get("params_before", 0):
            parts.append("no parameter removed")
        return "; ".join(parts)
    text = f"`{r.get('error_type')}` at {r.get('stage', '?')}: {r.get('error', '')}"
    return text.replace("|", "\\|")[:400]


_MULTI_OUTPUT = "tensors and has no tfprune channel rule"


def _notes(results: list[dict[str, Any]]) -> list[str]:
    """Why the refused backbones are refused, grouped by cause."""

    def models(text: str) -> str:
        hits = [r["model"] for r in results if status(r) == "refused" and text in r.get("error", "")]
        return ", ".join(hits)

    lines = ["", "## Notes", ""]
    composite = models("composite layer")
    multi = models(_MULTI_OUTPUT)
    if composite or multi:
        lines.append(
            f"- **{', '.join(filter(None, [composite, multi]))}**: keras-hub writes these "
            "blocks as `keras.layers.Layer` subclasses that own Conv2D/BatchNormalization/... "
            "sub-layers (MobileNet's `DepthwiseConvBlock`, EfficientNet's `FusedMBConvBlock`, "
            "MobileNetV5's `ConvNormAct`, HGNetV2's embeddings, the transformers' patch "
            "embeddings, DeepLabV3's `SpatialPyramidPooling`, RetinaNet's `FeaturePyramid`). "
            "tfprune traces the Functional graph and cannot look inside a layer's `call`, so "
            "it refuses them, naming the inner layers; a rule per keras-hub class would have "
            "to slice the inner weights and rewrite the block's constructor arguments "
            "(channel counts derived from ratios), which tfprune does not ship (it never "
            "imports keras_hub). The message suggests `exclude=[...]`, which keeps the "
            "block's input and output channels."
        )
    config = models("get_config")
    if config:
        lines.append(
            f"- **{config}**: the graph exists, but keras-hub 0.32's layers cannot serialise "
            "it (`DeiTEncoder.get_config` reads a missing `key_dim`; Swin's blocks call "
            "`get_config` on the `LayerNormalization` class instead of an instance). tfprune "
            "reads the graph from `get_config()` and reports that error."
        )
    other = [r["model"] for r in results if status(r) == "refused"
             and not any(t in r.get("error", "") for t in ("composite layer", _MULTI_OUTPUT, "get_config"))]
    if other:
        lines.append(f"- **{', '.join(other)}**: see the message in the table.")
    lines.append(
        "- Transformers would end in \"no prunable channel group\" beyond their embeddings "
        "anyway: the residual stream goes through LayerNormalization and attention heads "
        "are not pruned yet."
    )
    return lines


def render_markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    counts = {s: sum(1 for r in results if status(r) == s) for s in ("ok", "refused", "failed")}
    classes = sorted({_class_name(r["model"]) for r in results})
    ok_classes = sorted({_class_name(r["model"]) for r in results if status(r) == "ok"})
    lines = [
        "# keras-hub coverage",
        "",
        f"Generated by `benchmarks/keras_hub_coverage.py` on {meta['date']} "
        f"(keras-hub {meta['keras_hub']}, keras {meta['keras']}, tensorflow "
        f"{meta['tensorflow']}, {meta['machine']}, load average {meta.get('load_average')}).",
        "",
        "Every image backbone of `keras_hub.models` is built from a small config with "
        "random weights (never `from_preset`) and handed to tfprune **as-is**: keras-hub "
        "backbones are functional subclasses (a `keras.Model` subclass that builds a "
        "Functional graph in `__init__`) and are not re-wrapped with "
        "`keras.Model(m.inputs, m.outputs)`. BatchNorm statistics are random; "
        "`tfprune.prune(model, \"l1\", sparsity=0.5, round_to=None)` (masks at step 0, no "
        "training), then `strip_pruning` and `slim`, and the slim model exported with "
        "`export_tflite` and run with LiteRT on a batch of 2.",
        "",
        f"**ok**: slim and the masked model equal `strip_pruning` within {RTOL:g} x "
        f"max\\|out\\|, the slim model has fewer parameters and LiteRT equals Keras within "
        f"{TFLITE_RTOL:g} x max\\|out\\|. **refused**: tfprune raised one of its own errors "
        "(the message is shown). **failed**: any other exception or a mismatch.",
        "",
        f"**{counts['ok']} / {len(results)} ok** ({counts['refused']} refused, "
        f"{counts['failed']} failed); {len(ok_classes)} of {len(classes)} backbone classes.",
        "",
        f"| backbone | input | status | {MEASUREMENT_HEADER} | message |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r.get('input_size')} | {status(r)} | "
            f"{measurement_cells(r)} | {_message(r)} |"
        )
    lines += _notes(results)
    lines += ["", "## Not covered", ""]
    for names, why in NOT_COVERED.items():
        lines.append(f"- {names}: {why}.")
    lines.append("")
    return "\n".join(lines)


def _summary(result: dict[str, Any]) -> str:
    text = status(result)
    return text if text == "ok" else f"{text}: {_message(result)[:200]}"


def _meta() -> dict[str, Any]:
    import keras_hub

    return {**base_meta(), "keras_hub": keras_hub.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, default_output=RESULTS / "keras_hub_coverage", timeout=900)
    args = parser.parse_args(argv)
    tflite = not args.no_tflite

    if args.worker:
        fields = {"model": args.worker, "input_size": BACKBONES[args.worker][0]}
        run_worker(fields, args.out, lambda result: build(args.worker), tflite=tflite)
        return 0

    def run(name):
        worker = ["--worker", name] + ([] if tflite else ["--no-tflite"])
        fields = {"model": name, "input_size": BACKBONES[name][0]}
        return run_subprocess(__file__, worker, fields, args.timeout)

    return drive(args, list(BACKBONES), run=run, render=render_markdown, meta=_meta,
                 summary=_summary, tag="keras-hub")


if __name__ == "__main__":
    sys.exit(main())
