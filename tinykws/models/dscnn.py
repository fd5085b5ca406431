"""DS-CNN keyword-spotting models (Zhang et al., "Hello Edge", 2017; MLPerf Tiny KWS).

A builder is a readable function of its hyperparameters. `dscnn-s` is the MLPerf Tiny reference
topology: Conv 64 10x4 stride 2, four depthwise-separable blocks of 64, average pool over the
whole map, dense. `dscnn-m` and `dscnn-l` are the larger Hello Edge sizes (172 and 276 channels,
4 and 5 blocks). Why AveragePooling2D rather than GlobalAveragePooling2D: the latter converts
to MEAN, which small firmware often lacks; a pool over the whole map converts to AVERAGE_POOL_2D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinykws.errors import TinyKWSError


@dataclass(frozen=True)
class DSCNNSize:
    """Hyperparameters of one DS-CNN size."""

    filters: int
    blocks: int
    first_kernel: tuple[int, int] = (10, 4)
    first_strides: tuple[int, int] = (2, 2)
    dropout_first: float = 0.2
    dropout_last: float = 0.4


MODEL_SIZES: dict[str, DSCNNSize] = {
    "dscnn-s": DSCNNSize(filters=64, blocks=4),
    "dscnn-m": DSCNNSize(filters=172, blocks=4),
    "dscnn-l": DSCNNSize(filters=276, blocks=5),
}


def dscnn(
    input_shape: tuple[int, int],
    num_classes: int,
    filters: int = 64,
    blocks: int = 4,
    first_kernel: tuple[int, int] = (10, 4),
    first_strides: tuple[int, int] = (2, 2),
    dropout_first: float = 0.2,
    dropout_last: float = 0.4,
    l2: float = 1e-4,
    bn_momentum: float = 0.9,
    name: str = "dscnn",
) -> Any:
    """Build a DS-CNN: input [frames, coeffs] -> softmax over `num_classes`.

    Every conv is followed by batch norm and ReLU; the converter folds batch norm into the
    conv weights and fuses the ReLU, so the int8 graph is CONV_2D / DEPTHWISE_CONV_2D only.
    Batch-norm momentum is 0.9 rather than Keras's 0.99: the features are far from zero mean
    (MFCC c0 near -100), and with a few hundred steps the slow running statistics would still
    be near their initial values when the model is evaluated and quantized.
    """
    import tensorflow as tf

    layers = tf.keras.layers
    reg = tf.keras.regularizers.l2(l2) if l2 else None
    inputs = tf.keras.Input(shape=(*input_shape, 1), name="features")
    x = layers.Conv2D(
        filters,
        first_kernel,
        strides=first_strides,
        padding="same",
        use_bias=False,
        kernel_regularizer=reg,
        name="conv1",
    )(inputs)
    x = layers.BatchNormalization(momentum=bn_momentum, name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    x = layers.Dropout(dropout_first, name="dropout1")(x)
    for i in range(1, blocks + 1):
        x = layers.DepthwiseConv2D(
            (3, 3), padding="same", use_bias=False, depthwise_regularizer=reg, name=f"dw{i}"
        )(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"dw{i}_bn")(x)
        x = layers.ReLU(name=f"dw{i}_relu")(x)
        x = layers.Conv2D(
            filters, (1, 1), padding="same", use_bias=False, kernel_regularizer=reg, name=f"pw{i}"
        )(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"pw{i}_bn")(x)
        x = layers.ReLU(name=f"pw{i}_relu")(x)
    x = layers.Dropout(dropout_last, name="dropout2")(x)
    pool = (int(x.shape[1]), int(x.shape[2]))
    x = layers.AveragePooling2D(pool_size=pool, name="avgpool")(x)
    x = layers.Reshape((int(x.shape[-1]),), name="flatten")(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=reg, name="logits")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def build_model(
    name: str,
    input_shape: tuple[int, int],
    num_classes: int,
    filters: int | None = None,
    blocks: int | None = None,
) -> Any:
    """Build a named model size, optionally overriding its width (`filters`) or depth (`blocks`)."""
    if name not in MODEL_SIZES:
        known = ", ".join(MODEL_SIZES)
        raise TinyKWSError(f"--model: unknown model '{name}' (known: {known})")
    size = MODEL_SIZES[name]
    return dscnn(
        input_shape,
        num_classes,
        filters=filters or size.filters,
        blocks=blocks or size.blocks,
        first_kernel=size.first_kernel,
        first_strides=size.first_strides,
        dropout_first=size.dropout_first,
        dropout_last=size.dropout_last,
        name=name.replace("-", "_"),
    )


def on_embedding(
    embedding: Any, num_classes: int, frozen: bool, dropout: float = 0.2, l2: float = 1e-4
) -> Any:
    """A keyword classifier on a pretrained embedding: its layers, then dropout and a softmax.

    Why rebuild rather than nest: the classifier stays one flat graph whose layer names
    (conv1 ... flatten, logits) are those of a DS-CNN trained from scratch, so quantization,
    export and the output-bias correction treat both alike. `frozen` keeps the embedding's
    weights (and its batch-norm statistics) as pretrained; otherwise they are fine-tuned.
    """
    import tensorflow as tf

    layers = tf.keras.layers
    emb = tf.keras.models.clone_model(embedding)
    emb.set_weights(embedding.get_weights())
    emb.trainable = not frozen
    x = emb.output
    x = layers.Dropout(dropout, name="dropout_head")(x)
    reg = tf.keras.regularizers.l2(l2) if l2 else None
    out = layers.Dense(num_classes, activation="softmax", kernel_regularizer=reg, name="logits")(x)
    return tf.keras.Model(emb.inputs, out, name="dscnn_on_embedding")
