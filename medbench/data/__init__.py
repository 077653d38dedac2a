"""Datasets: readers for files users place in the data directory, bundled real data,
and simulators with known ground truth. Nothing here imports widgets or plots.
"""
