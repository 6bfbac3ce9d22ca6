"""npllm under tiktoken's name, so tiktoken's own test suite runs against npllm.

Only `tests/test_tiktoken_suite.py` puts the folder above this one first on PYTHONPATH, in a
child process; nothing else imports it. tiktoken's tests use just these five names.
"""

from npllm import Encoding, encoding_for_model, encoding_name_for_model, get_encoding, list_encoding_names

__all__ = ["Encoding", "encoding_for_model", "encoding_name_for_model", "get_encoding", "list_encoding_names"]
