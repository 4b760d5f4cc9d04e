"""Use cases, one module each: the only package that combines files, providers and the
engine. Commands call them with plain arguments and render what they return."""
