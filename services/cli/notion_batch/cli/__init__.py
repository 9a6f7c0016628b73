"""``notion-batch``: the operator CLI. It talks to the REST API (and, for ``migrate``, to the
database directly); see ``main.py`` for the commands."""
