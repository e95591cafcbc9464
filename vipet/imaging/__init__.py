"""Image transforms between a `Study` and model-ready arrays: windows, SUV scaling, resampling,
crop, resize, orientation, regions (build helper) and renders (`render.py`).

Modules are imported explicitly (`from vipet.imaging.resize import resize_box`) so that
importing one transform never pulls in the others; nothing here imports torch.
"""
