"""The staff page tests run against the whole service and the sandbox, like tests/e2e."""

from tests.e2e.conftest import stack

__all__ = ["stack"]
