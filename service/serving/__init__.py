"""Answering from saved weights: the model cache, the answer cache, batching and the per-task
adapters that turn a trained model into answers. The routes in service/api/routes/predict.py
stay thin and call these."""
