"""Fuzzing: random valid cases over each neuron's option space (strategies), judged and shrunk (run)."""
