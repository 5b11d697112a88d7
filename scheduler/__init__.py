"""Campaign scheduler: phases, milestones, reminders and digests (APScheduler 3.11).

Its jobs are derived from stored data at start-up and send only through the outbox
(storage.outbox) under idempotency keys; it arrives with the scheduler-and-outbox issue.
"""
