"""TrainerService: data sets, training jobs in worker processes, trained models.

- :mod:`services.trainer.datasets`: create/import/describe/load data sets in the store.
- :mod:`services.trainer.jobs`: the job manager (queue, worker pool, restart handling).
- :mod:`services.trainer.worker`: :func:`run_training_job`, the one training entrypoint.
- :mod:`services.trainer.servicer`: the gRPC adapter.

Run it with ``python -m services.trainer``.
"""
