from tests.helpers.sim import desk, sim  # noqa: F401
