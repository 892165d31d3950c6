"""Evaluation: FID/KID/CLIPScore with the toy CLIP features, judge accuracy over prompt
files (chapter 09, ``python -m recipes evaluate``)."""
