"""morgue's spiders (one: ``news``, driven by a seed)."""
