"""Feedhouse's domain and storage code.

Nothing in this package imports ``azure.functions``: the HTTP handlers in ``functions/`` translate
requests into calls here and results into responses.
"""
