"""One module per group of ``morgue`` sub-commands; ``morgue.cli`` registers them all."""
