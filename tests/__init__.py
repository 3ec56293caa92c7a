"""morgue's test suite: a package, so that `tests.conftest` is ours even where another installed
package (pywb) ships a top-level `tests`."""
