"""benchmarks/bench_embedding_probe.py reads a peer model's embedding from its int8 graph: the
tensor it reads must be what the model's own classifier layer sees."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _probe_module():
    spec = importlib.util.spec_from_file_location(
        "bench_embedding_probe", ROOT / "benchmarks" / "bench_embedding_probe.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reference_embedding_feeds_its_classifier(mlperf_ref_model, micro_speech_wavs):
    """The 64 values read for real 'yes' and 'no' clips, put through the reference model's own
    FULLY_CONNECTED weights (dequantized), rank the classes as the int8 model does."""
    from tinykws.audio import fix_length, load_audio

    emb = _probe_module().TFLiteEmbedder(mlperf_ref_model)
    assert emb.width == 64
    audio = np.stack([fix_length(load_audio(micro_speech_wavs / f"{w}_1000ms.wav", quiet=True))
                      for w in ("yes", "no")])  # fmt: skip
    e = emb(audio)
    assert e.shape == (2, 64) and (e >= 0).all() and e.max() > 0  # after ReLU and the average pool
    it = emb.it
    fc = [op for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"][-1]
    det = {t["index"]: t for t in it.get_tensor_details()}
    w_t, b_t = (det[int(i)] for i in fc["inputs"][1:3])
    w = (it.get_tensor(w_t["index"]).astype(np.float64) - w_t["quantization"][1]) * w_t["quantization"][0]
    b = it.get_tensor(b_t["index"]).astype(np.float64) * emb.emb_scale * w_t["quantization"][0]
    logits = e @ w.T + b
    q = emb.fe.int8_features(audio)
    out_index = it.get_output_details()[0]["index"]
    for x, z in zip(q, logits, strict=True):
        it.set_tensor(emb.in_index, x.reshape(emb.in_shape).astype(np.int8))
        it.invoke()
        assert int(np.argmax(it.get_tensor(out_index))) == int(np.argmax(z))
