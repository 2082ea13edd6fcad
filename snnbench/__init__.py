"""snnbench: verify and benchmark from-scratch spiking neurons against their reference libraries."""

__version__ = "0.2.0"
