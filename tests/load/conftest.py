from tests.e2e.conftest import stack, stack_env  # noqa: F401 - the same real-process stack
