"""Reading user files: YAML parsing with positions, and turning documents into models."""
