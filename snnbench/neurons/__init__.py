"""From-scratch neurons: torch only, never snntorch or sinabs, one file per neuron."""
