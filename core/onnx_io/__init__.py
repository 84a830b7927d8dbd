"""ONNX export and import: networks leave as models onnxruntime runs, real models come in."""
