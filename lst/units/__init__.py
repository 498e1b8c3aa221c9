"""Discrete speech units: frame features (MFCC / SSL layer), k-means, dedup, silence report.

Pipeline (each step a CLI in lst.bin): format_wav -> dump_features -> learn_kmeans ->
dump_units. The frame-time convention every stage shares is documented in
lst.units.features.
"""
