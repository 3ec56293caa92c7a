"""The boilerplate layers, each usable and measurable on its own: structure, phrases, repeated, rules."""
