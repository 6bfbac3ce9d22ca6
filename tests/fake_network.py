"""A stand-in for the network in the data tests: `urlopen` answering with a fixed body.

Imported as `from fake_network import FakeResponse`.
"""


class FakeResponse:
    """What urlopen returns: a context manager whose read() gives the body."""

    def __init__(self, body: bytes):
        self.body = body

    def read(self) -> bytes:
        return self.body

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
