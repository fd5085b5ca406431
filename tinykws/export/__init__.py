"""C output: the .tflite as a const array (carrays) and the graph compiler (compiler)."""
