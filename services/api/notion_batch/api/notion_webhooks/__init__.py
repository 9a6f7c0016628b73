"""Notion's webhook subscriptions: what their requests say (``events``) and the endpoints
they are sent to (``endpoints``).

Notion's webhooks only: not the ``webhook`` to-do handler of the workers, nor the
notifications the scheduler sends.
"""
