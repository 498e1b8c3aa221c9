"""lst: Latent Speech-Text Transformer toolkit (ESPnet-style).

Install with ``bash tools/setup.sh`` (see README): espnet 202511 and torch 2.13 cannot be
resolved together by pip (setuptools pins), so espnet is installed by tools/setup.sh with
--no-deps and is not listed in install_requires here.
"""
from setuptools import find_packages, setup

setup(
    name="lst",
    version="0.1.0",
    description="Latent Speech-Text Transformer: speech-text LMs over latent speech patches",
    packages=find_packages(include=["lst", "lst.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "numpy",
        "kaldiio",
        "sentencepiece",
        "soundfile",
        "librosa",
        "scikit-learn",
        "jiwer",
        "PyYAML",
        "tqdm",
    ],
    extras_require={"ssl": ["s3prl"], "test": ["pytest", "pytest-xdist"]},
    entry_points={"console_scripts": ["lst-train=lst.bin.lst_train:main"]},
)
