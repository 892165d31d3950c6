"""The toy world and its models: offline, fully labelled, small enough for a CPU.

``world`` renders scenes, ``captions`` describes them (English/Chinese), ``judge`` and
``parse`` read attributes back from images and prompts, ``promptsets`` builds evaluation
sets, ``model`` holds the toy Stable Diffusion's configs, ``train`` and ``zh`` train it
(``python -m recipes.toy.train``, ``python -m recipes.toy.zh``).
"""
