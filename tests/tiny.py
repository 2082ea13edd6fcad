"""The one tiny case the tests share: an SLSTM small enough that compare, bench and gate run it in
a fraction of a second. A test that needs a variant (a broken key, another threshold) derives it
from this text, so every variant differs from a case known to pass in exactly what it names."""

SLSTM = """
[[case]]
name = "tiny"
bench = true
neuron = "slstm"
steps = 4
batch = 2
sample_shape = [8]
seed = 3
[case.params]
input_size = 8
hidden_size = 8
threshold = 0.05
reset_mechanism = "subtract"
"""
