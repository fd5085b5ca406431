"""Training: keyword models and embeddings from features, and their measurement.

- `train`, `quantize`, `evaluate`: a DS-CNN keyword model, its int8 form, its figures;
- `pretrain`, `teacher`, `distill`: the multilingual embedding the few-shot models start from;
- `fewshot`, `fewshot_eval`: a keyword from ~5 clips or from text, and the few-shot protocol;
- `realism`: how real a synthetic corpus sounds to a model trained on real speech.
"""
