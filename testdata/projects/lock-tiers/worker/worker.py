"""The worker service: prints the versions it runs with."""

import idna
import packaging
import six

print(f"worker packaging={packaging.__version__} idna={idna.__version__} six={six.__version__}")
