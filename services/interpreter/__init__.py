"""InterpreterService (+ TensorFlow Serving's PredictionService) over trained models in the store."""
