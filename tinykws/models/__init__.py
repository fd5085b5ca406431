"""Model builders. `build_model(name, input_shape, num_classes, **overrides)` picks one by name."""

from tinykws.models.dscnn import MODEL_SIZES, build_model, dscnn, on_embedding

__all__ = ["MODEL_SIZES", "build_model", "dscnn", "on_embedding"]
