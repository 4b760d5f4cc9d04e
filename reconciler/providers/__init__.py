"""Provider seam: the protocol every job API adapter implements, and the registry."""
