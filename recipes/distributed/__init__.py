"""Distributed inference (chapter 07): data parallel with accelerate, CFG parallel, Ray.

``data_parallel`` splits a prompt list over processes launched by torchrun,
``cfg_parallel`` puts the two halves of one classifier-free-guidance batch on two
ranks, ``ray_batch`` runs the same batches on Ray actors (a local Ray or a cluster).
"""
