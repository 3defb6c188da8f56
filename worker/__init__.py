"""`procura worker`: runs what is not a request (mail retries, webhook deliveries, scheduled runs).

handlers.py maps each job kind to its handler, schedule.py says which kinds run on a cadence,
runner.py claims and runs jobs (`run_due_jobs` in-process, `Worker` as the long-running process).
"""
