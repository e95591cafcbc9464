"""Models: baselines, 3D vision encoders, the projector, the VLM over any causal LM, the built-in small LM.

Import the submodules directly (`vipet.models.vlm`, `vipet.models.encoders`, ...); this package
file stays empty of imports so that `import vipet.models.baselines` does not load transformers.
"""
