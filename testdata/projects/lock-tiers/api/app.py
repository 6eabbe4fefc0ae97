"""The api service: prints the versions it runs with."""

import attrs
import idna
import six

print(f"api attrs={attrs.__version__} idna={idna.__version__} six={six.__version__}")
