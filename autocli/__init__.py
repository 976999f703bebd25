"""autocli: load, inspect and run Hugging Face-format checkpoints from the command line."""

__version__ = "0.1.0"
