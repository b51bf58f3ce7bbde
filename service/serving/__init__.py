"""Answering from saved weights, the same for every task: the model cache, which model a request
means, the answer cache, batching and threads. What a task answers and how is its own
(rnnlab.models.tasks.serving); the routes in service/api/routes/predict.py turn these answers
into responses."""
