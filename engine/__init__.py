"""r8 engine: conversion, verification, evaluation, quantization and inspection of the
MLPerf Tiny ResNet8 CIFAR-10 model across Keras, ONNX Runtime and PyTorch.

Importing this package loads no heavy framework: TensorFlow, PyTorch and ONNX Runtime are
imported inside the functions that need them.
"""

__version__ = "0.1.0"
