"""Vietnamese report tools: parsing, normalisation, tokenisation, lesion extraction, VQA, augmentation.

Pure Python: nothing here imports torch, so metrics and notebooks stay light.
"""
