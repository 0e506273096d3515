"""celeba-gender: transfer-learning gender classification on CelebA with VGG-16.

The logic of the Snakemake workflow lives here, importable and testable without Snakemake.
"""

__version__ = "0.1.0"
