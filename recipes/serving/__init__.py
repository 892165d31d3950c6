"""Serving (chapter 08): a LitServe image server with dynamic batching behind a guard.

``api`` (``ImageAPI``, ``build_server``), ``guard`` (token, body limit, validation,
bounded queue), ``client`` (``ServerProcess``: start/stop the server in a
subprocess), ``loadtest`` (bounded loopback load generator), ``cli`` (``serve``).
Import the submodules directly; this package imports nothing heavy.
"""
