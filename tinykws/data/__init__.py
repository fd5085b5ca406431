"""Data layer: corpus readers (MSWC layout, folders), the synthesizer, the background-noise bank.

`tinykws.data.synth` (the `tinykws synth` verb) writes synthetic corpora in the MSWC layout;
`tinykws.data.corpus` reads them, real MSWC downloads and folder corpora; `tinykws.data.noise`
holds background noise for augmentation. See docs/data.md.
"""

from tinykws.data.corpus import Clip, Corpus, load_clips, read_corpus
from tinykws.data.noise import NoiseBank

__all__ = ["Clip", "Corpus", "NoiseBank", "load_clips", "read_corpus"]
