"""The set-up shared by the atheris targets (``fuzz/py/py_*.py``).

``fuzz/fuzz.sh py TARGET`` runs a target with strato's native extension built with
sanitizer-coverage (inline 8-bit counters, PC table, compare tracing) and atheris's libFuzzer
preloaded, so that the extension's counters register with the same libFuzzer that drives the
Python coverage: the Rust code a Python call reaches counts as covered. Run directly against
the regular extension, a target still works, guided by Python coverage only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris


def instrumented_native() -> bool:
    """Whether the ``strato._core`` the target imported carries sanitizer-coverage counters."""
    with open(sys.modules["strato._core"].__file__ or "", "rb") as native:
        return b"__sanitizer_cov_8bit_counters_init" in native.read()


def run(target: Callable[[bytes], None]) -> None:
    """Hand ``target`` to libFuzzer with the command line's options."""
    state = "instrumented" if instrumented_native() else "NOT instrumented (Python coverage only)"
    print(f"INFO: strato._core is {state}", file=sys.stderr)
    # The libFuzzer preloaded by fuzz.sh is atheris's own: use it, not a second copy.
    atheris.Setup(sys.argv, target, internal_libfuzzer=True)
    atheris.Fuzz()
