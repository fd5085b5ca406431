"""DS-CNN builders: topology as specified, overrides, and firmware-friendly conversion."""

from __future__ import annotations

import numpy as np
import pytest

from tinykws.errors import TinyKWSError
from tinykws.models import MODEL_SIZES, build_model


def _layers(model, kind):
    return [layer for layer in model.layers if type(layer).__name__ == kind]


def test_dscnn_s_is_the_mlperf_tiny_topology():
    m = build_model("dscnn-s", (49, 10), 12)
    convs = _layers(m, "Conv2D")
    first = convs[0]
    assert first.filters == 64 and first.kernel_size == (10, 4) and first.strides == (2, 2)
    assert len(_layers(m, "DepthwiseConv2D")) == 4
    assert [c.filters for c in convs[1:]] == [64] * 4 and all(c.kernel_size == (1, 1) for c in convs[1:])
    pool = _layers(m, "AveragePooling2D")[0]
    assert pool.pool_size == (25, 5)  # the whole 25x5 map after the stride-2 conv
    assert m.output_shape == (None, 12)
    # MLPerf Tiny's reference DS-CNN has about 24k parameters (BN included)
    assert 23000 < m.count_params() < 26000


@pytest.mark.parametrize("name,filters,blocks", [("dscnn-m", 172, 4), ("dscnn-l", 276, 5)])
def test_hello_edge_sizes(name, filters, blocks):
    m = build_model(name, (49, 10), 12)
    assert len(_layers(m, "DepthwiseConv2D")) == blocks
    assert _layers(m, "Conv2D")[0].filters == filters == MODEL_SIZES[name].filters


def test_width_and_depth_overrides():
    m = build_model("dscnn-s", (49, 10), 5, filters=24, blocks=2)
    assert _layers(m, "Conv2D")[0].filters == 24
    assert len(_layers(m, "DepthwiseConv2D")) == 2
    assert m.output_shape == (None, 5)


def test_unknown_model_name():
    with pytest.raises(TinyKWSError, match="dscnn-xl.*known: dscnn-s"):
        build_model("dscnn-xl", (49, 10), 12)


def test_converts_to_average_pool_not_mean():
    from tinykws.models.tflm import TFLMRunner
    from tinykws.training.quantize import quantize_keras, tflite_ops

    m = build_model("dscnn-s", (49, 10), 12, filters=16, blocks=1)
    rep = np.random.default_rng(0).normal(-30, 25, (40, 49, 10)).astype(np.float32)
    tfl = quantize_keras(m, rep, 0.5847029, 83)
    ops = tflite_ops(tfl)
    assert "AVERAGE_POOL_2D" in ops and "MEAN" not in ops and "SHAPE" not in ops
    r = TFLMRunner(tfl)
    assert r.input_quant[1] == 83 and abs(r.input_quant[0] - 0.5847029) < 1e-6
    assert r.input_details["dtype"] == np.int8 and r.output_details["dtype"] == np.int8
