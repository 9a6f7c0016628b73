from tests.e2e.conftest import stack  # noqa: F401 - the same real-process stack
