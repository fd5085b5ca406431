"""The configuration of a keyword training run: everything that determines it (tinykws.json).

Why its own module: `train` runs it, `quantize` rebuilds a run's calibration data from a model's
recorded configuration, `fewshot` and the demo fill one in; none of them should import the
training loop to get the dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinykws.data.splits import SILENCE, UNKNOWN

DEFAULT_EMBEDDING = "embed-rt"  # a shipped model name (tinykws.resources.find_model)


@dataclass
class TrainConfig:
    """Everything that determines a training run (stored in tinykws.json)."""

    data: str
    keywords: list[str]
    out: str
    language: str | None = None
    unknown_languages: list[str] = field(default_factory=list)
    model: str = "dscnn-s"
    filters: int | None = None
    blocks: int | None = None
    frontend: str = "mlperf"
    epochs: int = 30
    batch_size: int = 100
    learning_rate: float = 3e-3
    seed: int = 0
    unknown_share: float = 0.1
    silence_share: float = 0.1
    # the unknown share of dev and test (None: unknown_share). Training may see more unknown
    # words than a test set holds; keeping dev/test at MLPerf Tiny's 10% keeps held-out figures
    # comparable between recipes
    eval_unknown_share: float | None = None
    patience: int = 8
    time_shift_ms: float = 100.0
    noise_prob: float = 0.8
    noise_volume: float = 0.1
    noise_dirs: list[str] = field(default_factory=list)
    noise_kinds: list[str] = field(
        default_factory=lambda: ["white", "pink", "brown", "hum", "machine", "water", "clatter", "murmur"]
    )
    noise_segments: int = 80
    speed_perturb: float = 0.0  # per-clip resampling factor exp(U(-x, x)): pitch, formants, tempo
    specaugment_time: int = 10  # max frames masked (one mask)
    specaugment_freq: int = 3  # max coefficients masked (one mask)
    # per-clip random spectral envelope (microphone/room colouring), natural-log units: 0.7 is
    # about +-6 dB; applied as the cepstral offset it equals (see _channel_offsets)
    channel_aug: float = 0.0
    label_smoothing: float = 0.0  # 0: sparse cross-entropy (hard labels)
    # True: each epoch draws its unknown clips afresh from every other word of the train split
    # (same share, many more words and voices over the run); False: one fixed draw
    unknown_resample: bool = False
    # with unknown_resample: this share of each epoch's unknown draw favours the pool clips the
    # current model takes for keywords (hard negatives); 0: a uniform draw
    hard_negatives: float = 0.0
    # True: fold log(dev class share / training class share) into the output layer's bias, so a
    # model trained on more unknown words than the test holds decides as if trained on the
    # test's shares (prior correction, "logit adjustment"). Checkpoints are chosen on the
    # corrected dev accuracy.
    prior_correction: bool = False
    max_clips_per_word: int | None = None
    calibration_clips: int = 300
    # a pretrained embedding directory (tinykws pretrain / distill) to start from: its layers
    # become the classifier's, with a new head (models.on_embedding); None: a DS-CNN from scratch
    # (None: a DS-CNN from scratch). The default is the shipped distilled embedding, fine-tuned:
    # frozen, the demo's held-out synthetic speakers fell to 87 %; fine-tuned they reach 97.8 %
    # (benchmarks/results/distill_candidates.md)
    embedding: str | None = DEFAULT_EMBEDDING
    backbone: str = "finetune"  # "finetune" | "frozen": whether the embedding's weights train

    @property
    def labels(self) -> list[str]:
        return [SILENCE, UNKNOWN, *self.keywords]
